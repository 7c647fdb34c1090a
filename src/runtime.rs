//! Runtime: seeding, CPU threads and what libtorch this binary runs on.
//!
//! Spec: spec/runtime.md. Paper: the authors seed `torch.manual_seed(1234)`,
//! `torch.cuda.manual_seed(1234)` and NumPy with 1234 (`train.py`, git-disl/SEJE @ 694a835);
//! every command and test of this package starts with [`seed_everything`]. Devices and CUDA
//! loading: [`cuda`].

use serde::Serialize;

pub mod blas_threads;
pub mod cuda;
pub mod heavy;

pub use cuda::{autocast, device, load_cuda, parse_device, use_bf16_autocast};

/// The seed of the authors' code (`train.py`, `test.py`); the default everywhere.
pub const PAPER_SEED: u64 = 1234;

/// The libtorch version this binary was built against (read from the layout's `build-version`).
pub const LIBTORCH_VERSION: &str = env!("SEJE_LIBTORCH_VERSION");

static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds libtorch's global random generator for the caller: code that seeds it and then draws
/// (a model's initialisation) takes this lock around both, so that two such jobs in one process
/// (parallel tests, a library user's threads) cannot interleave their draws.
pub fn torch_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

/// Seeds libtorch's CPU and CUDA generators, turns cudnn benchmarking off (it picks kernels by
/// timing, which is not deterministic) and, when `threads` is given, fixes the CPU thread count.
///
/// Data order is not driven by this seed: data loaders own a separate seeded RNG so that model
/// changes do not reshuffle the data.
pub fn seed_everything(seed: u64, threads: Option<usize>) {
    // libtorch takes an i64; the bit pattern is what matters, so wrap rather than fail.
    tch::manual_seed(seed as i64);
    if tch::Cuda::is_available() {
        tch::Cuda::manual_seed_all(seed);
        tch::Cuda::cudnn_set_benchmark(false);
    }
    if let Some(n) = threads {
        tch::set_num_threads(n.max(1) as i32);
    }
    tracing::debug!(seed, ?threads, "seeded libtorch");
}

/// What `seje info` reports.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeInfo {
    /// Version of this package.
    pub seje_version: &'static str,
    /// libtorch version the binary was built against.
    pub libtorch_version: &'static str,
    /// Intra-op CPU threads libtorch uses.
    pub cpu_threads: i32,
    /// Whether libtorch was built with OpenMP.
    pub openmp: bool,
    /// Whether MKL is available.
    pub mkl: bool,
    /// Whether a CUDA device is usable by this process now.
    pub cuda_available: bool,
    /// Number of CUDA devices (0 without CUDA).
    pub cuda_devices: i64,
    /// What [`keep_freed_memory`] did in this process (`default` when it was not called).
    pub allocator: AllocatorMode,
}

/// Collects [`RuntimeInfo`] from the loaded libtorch.
pub fn runtime_info() -> RuntimeInfo {
    // Registers CUDA when libtorch's CUDA library is next to the CPU one (a GPU machine).
    let _ = load_cuda();
    let cuda_available = tch::Cuda::is_available();
    RuntimeInfo {
        seje_version: env!("CARGO_PKG_VERSION"),
        libtorch_version: LIBTORCH_VERSION,
        cpu_threads: tch::get_num_threads(),
        openmp: tch::utils::has_openmp(),
        mkl: tch::utils::has_mkl(),
        cuda_available,
        cuda_devices: if cuda_available {
            tch::Cuda::device_count()
        } else {
            0
        },
        allocator: *ALLOCATOR.get().unwrap_or(&AllocatorMode::Default),
    }
}

/// How [`keep_freed_memory`] left the C allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocatorMode {
    /// glibc's malloc keeps freed memory: no `mmap` per large block, no trimming.
    KeepFreed,
    /// As the C library does by default (`SEJE_MALLOC=default`, or not glibc).
    Default,
}

/// Tells glibc's malloc, which libtorch's CPU tensors come from, to serve every block from its
/// heap (`M_MMAP_MAX = 0`) and never give freed memory back to the kernel (`M_TRIM_THRESHOLD`
/// at its largest). By default glibc maps each block above its threshold (at most 32 MiB) afresh
/// and unmaps it when freed, so a training step that allocates the same large activations every
/// iteration pays for the kernel zeroing new pages each time (a fifth of the CPU time of the
/// paper configuration's step on the CPU). The cost: the process keeps its high-water mark of
/// memory, as PyTorch's caching allocator does on a GPU. Called first by the `seje` binary;
/// `SEJE_MALLOC=default` leaves the allocator alone. Returns what was done.
pub fn keep_freed_memory() -> AllocatorMode {
    *ALLOCATOR.get_or_init(|| {
        if std::env::var("SEJE_MALLOC").is_ok_and(|v| v == "default") {
            return AllocatorMode::Default;
        }
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // SAFETY: mallopt only sets allocator parameters (glibc takes its own lock).
            let ok = unsafe {
                libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                    && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
            };
            if ok {
                return AllocatorMode::KeepFreed;
            }
        }
        AllocatorMode::Default
    })
}

/// What [`keep_freed_memory`] did, once it has run.
static ALLOCATOR: std::sync::OnceLock<AllocatorMode> = std::sync::OnceLock::new();

/// `n` draws of U[0, 1) from libtorch's CPU generator right after [`seed_everything`]`(seed)`.
/// The spec page pins these values, so a change of seeding or generator is caught.
pub fn seeded_uniform(seed: u64, n: usize) -> Vec<f32> {
    seed_everything(seed, None);
    let t = tch::Tensor::rand([n as i64], (tch::Kind::Float, tch::Device::Cpu));
    Vec::<f32>::try_from(&t).expect("a 1-d float tensor converts to Vec<f32>")
}
