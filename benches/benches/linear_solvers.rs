//! The sparse factorization alone, on the nodal matrix of a 2,500-node city
//! network (pipe conductances, stations grounded): nalgebra-sparse's
//! Cholesky (no fill-reducing ordering), faer's partial-pivoting LU (COLAMD),
//! and linepack's LDU without pivoting (AMD). This is what chose the
//! solver's linear algebra; see BENCHMARKS.md.

use criterion::{Criterion, criterion_group, criterion_main};
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::sparse::linalg::lu::{NumericLu, factorize_symbolic_lu};
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{Conj, MatMut, Par};
use linepack_benches::city_network;
use linepack_network::BranchRef;
use linepack_network::solver::ldu::{NumericLdu, SymbolicLdu};
use nalgebra::DMatrix;
use nalgebra_sparse::CscMatrix;
use nalgebra_sparse::factorization::CscCholesky;

/// The CSC nodal matrix (symmetric, positive definite) of a city network.
fn nodal_matrix() -> (usize, Vec<u32>, Vec<u32>, Vec<f64>) {
    let net = city_network(2_500, 1);
    let n = net.nodes.len();
    let mut cols: Vec<std::collections::BTreeMap<u32, f64>> = vec![Default::default(); n];
    for b in net.branches() {
        let (f, t) = net.branch_ends(b);
        let g = match b {
            BranchRef::Pipe(i) => {
                let p = &net.pipes[i.index()];
                (p.diameter_mm * 1e-3).powf(2.5) / p.length_m.sqrt() * 1e3
            }
            _ => 10.0,
        };
        let (f, t) = (f.index() as u32, t.index() as u32);
        *cols[f as usize].entry(f).or_default() += g;
        *cols[t as usize].entry(t).or_default() += g;
        *cols[f as usize].entry(t).or_default() -= g;
        *cols[t as usize].entry(f).or_default() -= g;
    }
    for s in &net.supplies {
        *cols[s.node.index()].entry(s.node.index() as u32).or_default() += 1e3;
    }
    let mut col_ptr = vec![0u32];
    let (mut rows, mut vals) = (Vec::new(), Vec::new());
    for c in cols {
        for (r, v) in c {
            rows.push(r);
            vals.push(v);
        }
        col_ptr.push(rows.len() as u32);
    }
    (n, col_ptr, rows, vals)
}

fn factorizations(c: &mut Criterion) {
    let (n, col_ptr, rows, vals) = nodal_matrix();
    let rhs: Vec<f64> = (0..n).map(|i| (i % 7) as f64 - 3.0).collect();
    let mut group = c.benchmark_group("factor_and_solve_city_2500");

    let nal = CscMatrix::try_from_csc_data(
        n,
        n,
        col_ptr.iter().map(|&x| x as usize).collect(),
        rows.iter().map(|&x| x as usize).collect(),
        vals.clone(),
    )
    .expect("valid CSC");
    let mut chol = CscCholesky::factor(&nal).expect("SPD");
    group.bench_function("nalgebra_sparse_cholesky_natural_order", |b| {
        b.iter(|| {
            chol.refactor(nal.values()).expect("SPD");
            let mut x = DMatrix::from_column_slice(n, 1, &rhs);
            chol.solve_mut(&mut x);
            x
        })
    });

    let pattern = SymbolicSparseColMatRef::new_checked(n, n, &col_ptr, None, &rows);
    let sym = factorize_symbolic_lu(pattern, Default::default()).expect("pattern");
    let mut num = NumericLu::<u32, f64>::new();
    let mut mem = MemBuffer::new(StackReq::any_of(&[
        sym.factorize_numeric_lu_scratch::<f64>(Par::Seq, Default::default()),
        sym.solve_in_place_scratch::<f64>(1, Par::Seq),
    ]));
    group.bench_function("faer_lu_partial_pivoting_colamd", |b| {
        b.iter(|| {
            let a = SparseColMatRef::new(pattern, &vals);
            let lu = sym
                .factorize_numeric_lu(&mut num, a, Par::Seq, MemStack::new(&mut mem), Default::default())
                .expect("nonsingular");
            let mut x = rhs.clone();
            lu.solve_in_place_with_conj(
                Conj::No,
                MatMut::from_column_major_slice_mut(&mut x, n, 1),
                Par::Seq,
                MemStack::new(&mut mem),
            );
            x
        })
    });

    let ldu = SymbolicLdu::new(n, &col_ptr, &rows, &[]);
    let mut num = NumericLdu::default();
    let mut work = Vec::new();
    group.bench_function("linepack_ldu_amd_no_pivoting", |b| {
        b.iter(|| {
            ldu.factor(&vals, &mut num).expect("no small pivot");
            let mut x = rhs.clone();
            ldu.solve(&num, &mut x, &mut work);
            x
        })
    });
    group.finish();
}

criterion_group!(benches, factorizations);
criterion_main!(benches);
