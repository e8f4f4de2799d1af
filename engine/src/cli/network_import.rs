//! `linepack network import gaslib --net FILE.net [--scn FILE.scn] [--cdf FILE.cdf] -o OUT`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use linepack_engine::report::element_counts;
use linepack_network::file::{self, Format};
use linepack_network::gaslib::import;

use super::BadInput;

pub fn gaslib(net: &Path, scn: Option<&Path>, cdf: Option<&Path>, out: &Path) -> anyhow::Result<ExitCode> {
    let read = |p: &Path| std::fs::read_to_string(p).context(BadInput(format!("cannot read {}", p.display())));
    let format = Format::from_path(out)
        .with_context(|| format!("{}: use a .json or .toml extension", out.display()))
        .context(BadInput("-o".into()))?;
    let net_text = read(net)?;
    // (text, name) of an optional input.
    let named = |p: Option<&Path>| {
        p.map(|p| Ok::<_, anyhow::Error>((read(p)?, p.display().to_string())))
            .transpose()
    };
    let (scn_named, cdf_named) = (named(scn)?, named(cdf)?);
    let name = net
        .file_stem()
        .map_or_else(|| "gaslib".into(), |s| s.to_string_lossy().into_owned());
    let imported = import(
        &net_text,
        &net.display().to_string(),
        scn_named.as_ref().map(|(t, n)| (t.as_str(), n.as_str())),
        cdf_named.as_ref().map(|(t, n)| (t.as_str(), n.as_str())),
        &name,
    )
    .context(BadInput("GasLib instance".into()))?;
    let text = file::to_string(&imported.file, format);
    let network = file::parse(&text, format, out).context("the import produced an invalid network (a bug)")?;
    std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("wrote {}: {}", out.display(), element_counts(&network));
    for note in &imported.notes {
        eprintln!("  note: {note}");
    }
    Ok(ExitCode::SUCCESS)
}
