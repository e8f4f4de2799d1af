//! Batches waiting on disk: one file per batch, `<seq>-<points>.lp`,
//! written whole (to a temporary name, synced, renamed) so a crash leaves
//! either the batch or nothing; sent and removed in sequence order.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub struct Spill {
    dir: PathBuf,
    files: VecDeque<(PathBuf, u64)>,
    next_seq: u64,
    points: u64,
}

impl Spill {
    /// Opens `dir` (creating it) and takes the batches an earlier run left.
    pub fn open(dir: &Path) -> io::Result<Spill> {
        fs::create_dir_all(dir)?;
        let mut files: Vec<(u64, PathBuf, u64)> = Vec::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(stem) = name.strip_suffix(".lp") else { continue };
            let Some((seq, points)) = stem.split_once('-') else {
                continue;
            };
            if let (Ok(seq), Ok(points)) = (seq.parse(), points.parse()) {
                files.push((seq, path, points));
            }
        }
        files.sort();
        let next_seq = files.last().map_or(0, |f| f.0 + 1);
        let points = files.iter().map(|f| f.2).sum();
        Ok(Spill {
            dir: dir.to_path_buf(),
            files: files.into_iter().map(|(_, p, n)| (p, n)).collect(),
            next_seq,
            points,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Points waiting on disk.
    pub fn points(&self) -> u64 {
        self.points
    }

    pub fn push(&mut self, text: &str, points: u64) -> io::Result<()> {
        let path = self.dir.join(format!("{:012}-{points}.lp", self.next_seq));
        let tmp = self.dir.join(format!("{:012}.tmp", self.next_seq));
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        self.next_seq += 1;
        self.points += points;
        self.files.push_back((path, points));
        Ok(())
    }

    /// The oldest batch and its points.
    pub fn front(&self) -> io::Result<Option<(String, u64)>> {
        match self.files.front() {
            None => Ok(None),
            Some((path, points)) => Ok(Some((fs::read_to_string(path)?, *points))),
        }
    }

    /// Removes the oldest batch (sent).
    pub fn pop(&mut self) -> io::Result<()> {
        if let Some((path, points)) = self.files.pop_front() {
            self.points -= points;
            fs::remove_file(path)?;
        }
        Ok(())
    }
}
