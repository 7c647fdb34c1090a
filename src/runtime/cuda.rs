//! Devices: parsing `cpu` / `cuda` / `cuda:N`, loading libtorch's CUDA library at run time, and
//! bf16 autocast.
//!
//! Spec: spec/runtime.md (devices). One binary serves CPU and GPU machines: it is linked against
//! `libtorch_cpu.so` only, and libtorch registers CUDA when `libtorch_cuda.so` is loaded. When a
//! CUDA device is asked for, [`device`] loads that library from the directory of the
//! `libtorch_cpu.so` this process runs on (or from `SEJE_TORCH_CUDA_DIR`) before libtorch is asked
//! whether CUDA is there, since libtorch caches the answer at the first question.

use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tch::Device;

use crate::error::{Error, Result};

/// What loading `libtorch_cuda.so` gave: the file loaded, or every attempt's error.
static CUDA_LIBRARY: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();

/// Parses `cpu`, `cuda` (device 0) or `cuda:N`.
pub fn parse_device(spec: &str) -> Result<Device> {
    let bad = |problem: &str| Error::Invalid {
        what: format!("device `{spec}`"),
        problem: problem.into(),
    };
    match spec.trim() {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        s => match s.strip_prefix("cuda:") {
            Some(n) => n
                .parse::<usize>()
                .map(Device::Cuda)
                .map_err(|_| bad("expected cpu, cuda or cuda:N with N a device number")),
            None => Err(bad("expected cpu, cuda or cuda:N")),
        },
    }
}

/// The device named by `spec`, ready to use: for CUDA, `libtorch_cuda.so` is loaded and the
/// device must exist, otherwise the error says what was tried.
pub fn device(spec: &str) -> Result<Device> {
    let d = parse_device(spec)?;
    if let Device::Cuda(n) = d {
        let loaded = load_cuda();
        if !tch::Cuda::is_available() {
            let why = match loaded {
                Ok(lib) => format!(
                    "libtorch's CUDA library loaded ({}) but CUDA is not available: no GPU or no \
                     usable driver on this machine",
                    lib.display()
                ),
                Err(e) => format!(
                    "this binary is linked against libtorch's CPU library and could not load its \
                     CUDA library: {e}. On a GPU machine with PyTorch 2.11 installed, put torch's \
                     lib directory first in LD_LIBRARY_PATH (see spec/runtime.md, Devices) or set \
                     SEJE_TORCH_CUDA_DIR to the directory holding libtorch_cuda.so"
                ),
            };
            return Err(Error::Invalid {
                what: format!("device `{spec}`"),
                problem: why,
            });
        }
        let count = tch::Cuda::device_count();
        if n as i64 >= count {
            return Err(Error::Invalid {
                what: format!("device `{spec}`"),
                problem: format!("this machine has {count} CUDA device(s)"),
            });
        }
        tracing::info!(device = spec, "CUDA device ready");
    }
    Ok(d)
}

/// Loads `libtorch_cuda.so` once per process (later calls return the first answer). Harmless on
/// a CPU machine: the file is absent and nothing happens.
pub fn load_cuda() -> std::result::Result<PathBuf, String> {
    CUDA_LIBRARY
        .get_or_init(|| {
            let mut tried = Vec::new();
            for dir in candidate_dirs() {
                let file = dir.join("libtorch_cuda.so");
                if !file.exists() {
                    tried.push(format!("{} does not exist", file.display()));
                    continue;
                }
                match dlopen_global(&file) {
                    Ok(()) => {
                        tracing::debug!(library = %file.display(), "loaded libtorch's CUDA library");
                        return Ok(file);
                    }
                    Err(e) => tried.push(format!("{}: {e}", file.display())),
                }
            }
            if tried.is_empty() {
                tried.push("no libtorch library directory found".into());
            }
            Err(tried.join("; "))
        })
        .clone()
}

/// `SEJE_TORCH_CUDA_DIR`, then the directory of the loaded `libtorch_cpu.so`.
fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("SEJE_TORCH_CUDA_DIR") {
        dirs.push(PathBuf::from(d));
    }
    if let Some(d) = loaded_library_dir("libtorch_cpu.so") {
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    dirs
}

/// The directory of a shared library mapped into this process (from `/proc/self/maps`).
fn loaded_library_dir(name: &str) -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(Path::new)
        .find(|p| p.file_name().and_then(|f| f.to_str()) == Some(name))
        .and_then(Path::parent)
        .map(Path::to_path_buf)
}

fn dlerror() -> String {
    // SAFETY: dlerror returns null or a pointer to a NUL-terminated string owned by libc.
    unsafe {
        let e = libc::dlerror();
        if e.is_null() {
            "unknown dlopen error".into()
        } else {
            CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    }
}

fn dlopen_global(file: &Path) -> std::result::Result<(), String> {
    let c = CString::new(file.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: a valid C string; the handle is kept for the life of the process on purpose.
    let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if handle.is_null() {
        Err(dlerror())
    } else {
        Ok(())
    }
}

/// `c10::DeviceType::CUDA`.
const DEVICE_TYPE_CUDA: i8 = 1;
/// `c10::ScalarType::BFloat16`.
const SCALAR_TYPE_BFLOAT16: i8 = 15;

/// The parts of libtorch's autocast API tch does not wrap (or wraps through deprecated calls
/// that warn at every use), found with `dlsym` in the loaded libtorch.
#[derive(Clone, Copy)]
struct AutocastApi {
    set_dtype: unsafe extern "C" fn(i8, i8),
    get_dtype: unsafe extern "C" fn(i8) -> i8,
    set_enabled: unsafe extern "C" fn(i8, bool),
    is_enabled: unsafe extern "C" fn(i8) -> bool,
}

static AUTOCAST_API: OnceLock<std::result::Result<AutocastApi, String>> = OnceLock::new();

fn autocast_api() -> std::result::Result<AutocastApi, String> {
    AUTOCAST_API
        .get_or_init(|| {
            Ok(AutocastApi {
                set_dtype: symbol(
                    "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE",
                )?,
                get_dtype: symbol("_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE")?,
                set_enabled: symbol("_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb")?,
                is_enabled: symbol("_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE")?,
            })
        })
        .as_ref()
        .copied()
        .map_err(Clone::clone)
}

/// Makes CUDA autocast compute in bfloat16 instead of its default float16
/// (`at::autocast::set_autocast_dtype(kCUDA, kBFloat16)`). Checked: the dtype is read back, and a
/// matrix product under [`autocast`] must come out in bfloat16.
pub fn use_bf16_autocast(device: Device) -> Result<()> {
    let fail = |problem: String| Error::Invalid {
        what: "bf16 autocast".into(),
        problem,
    };
    if !matches!(device, Device::Cuda(_)) {
        return Err(fail(
            "autocast is a CUDA option; the run's device is the CPU".into(),
        ));
    }
    let api = autocast_api().map_err(fail)?;
    // SAFETY: c10::DeviceType and c10::ScalarType are `enum class : int8_t`, passed in
    // registers like an i8; the functions have no other preconditions.
    let now = unsafe {
        (api.set_dtype)(DEVICE_TYPE_CUDA, SCALAR_TYPE_BFLOAT16);
        (api.get_dtype)(DEVICE_TYPE_CUDA)
    };
    if now != SCALAR_TYPE_BFLOAT16 {
        return Err(fail(format!(
            "libtorch reports autocast dtype {now} after setting bfloat16 ({SCALAR_TYPE_BFLOAT16})"
        )));
    }
    let a = tch::Tensor::ones([4, 4], (tch::Kind::Float, device));
    let kind = autocast(true, || a.matmul(&a).kind());
    if kind != tch::Kind::BFloat16 {
        return Err(fail(format!(
            "a matrix product under autocast came out as {kind:?}, not BFloat16"
        )));
    }
    tracing::info!("CUDA autocast computes in bfloat16");
    Ok(())
}

/// Runs `f` under CUDA autocast when `enabled` (PyTorch's `torch.autocast("cuda")`), else just
/// runs it. Enabling needs the autocast API ([`use_bf16_autocast`] checks it first).
pub fn autocast<T>(enabled: bool, f: impl FnOnce() -> T) -> T {
    if !enabled {
        return f();
    }
    let api = autocast_api().expect("use_bf16_autocast checked libtorch's autocast API");
    // SAFETY: as in use_bf16_autocast; the nesting calls are libtch's C wrappers.
    let prev = unsafe {
        let prev = (api.is_enabled)(DEVICE_TYPE_CUDA);
        (api.set_enabled)(DEVICE_TYPE_CUDA, true);
        torch_sys::at_autocast_increment_nesting();
        prev
    };
    let out = f();
    // SAFETY: as above.
    unsafe {
        if torch_sys::at_autocast_decrement_nesting() == 0 {
            torch_sys::at_autocast_clear_cache();
        }
        (api.set_enabled)(DEVICE_TYPE_CUDA, prev);
    }
    out
}

fn symbol<T: Copy>(name: &str) -> std::result::Result<T, String> {
    let c = CString::new(name).expect("symbol names have no NUL");
    // SAFETY: RTLD_DEFAULT searches the libraries already loaded; the caller names the type.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c.as_ptr()) };
    if p.is_null() {
        return Err(format!("libtorch has no symbol {name}: {}", dlerror()));
    }
    assert_eq!(
        std::mem::size_of::<T>(),
        std::mem::size_of::<*mut libc::c_void>()
    );
    // SAFETY: T is a function pointer type of the symbol's signature (checked size above).
    Ok(unsafe { std::mem::transmute_copy::<*mut libc::c_void, T>(&p) })
}

/// Memory in use on CUDA device `index` (`cudaMemGetInfo`: total − free, bytes, every process on
/// the device counted), or `None` when the CUDA runtime is not loaded or the call fails. The CUDA
/// runtime comes with libtorch's CUDA library ([`load_cuda`]); its functions are found with
/// `dlsym`, since this binary does not link it.
pub fn device_memory_used(index: usize) -> Option<u64> {
    type SetDevice = unsafe extern "C" fn(i32) -> i32;
    type MemGetInfo = unsafe extern "C" fn(*mut usize, *mut usize) -> i32;
    let set_device: SetDevice = symbol("cudaSetDevice").ok()?;
    let mem_get_info: MemGetInfo = symbol("cudaMemGetInfo").ok()?;
    let (mut free, mut total) = (0usize, 0usize);
    // SAFETY: cudaSetDevice takes a device ordinal; cudaMemGetInfo writes two size_t.
    let rc = unsafe {
        let rc = set_device(i32::try_from(index).ok()?);
        if rc != 0 {
            rc
        } else {
            mem_get_info(&mut free, &mut total)
        }
    };
    if rc != 0 {
        tracing::debug!(rc, "cudaMemGetInfo failed");
        return None;
    }
    Some(total.saturating_sub(free) as u64)
}
