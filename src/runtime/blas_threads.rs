//! One BLAS thread for the calling thread: while a [`OneBlasThread`] lives, the matrix products
//! that libtorch hands to MKL from this thread run on this thread alone, whatever the process's
//! thread setting. Work that runs its own products side by side on rayon's threads (the
//! evaluation's score tiles) takes one per task, so that two products do not each start a team
//! of OpenMP threads on the same cores, and the process's setting (shared by everything else,
//! tests running in parallel included) is never touched.
//!
//! MKL keeps a per-thread count (`MKL_Set_Num_Threads_Local`); libtorch's x86-64 builds link MKL
//! in and export it. A libtorch without MKL has no such count: then the guard does nothing and
//! [`OneBlasThread::is_effective`] says so.
//!
//! Spec: spec/runtime.md (threads of the matrix products).

use std::ffi::c_int;
use std::sync::OnceLock;

/// `int MKL_Set_Num_Threads_Local(int nt)` (what MKL's header calls `mkl_set_num_threads_local`;
/// the lower-case symbol of the library is the Fortran interface, which takes a pointer): sets the
/// calling thread's count (0: back to the process's) and returns the previous one.
type SetLocal = unsafe extern "C" fn(c_int) -> c_int;

/// MKL's per-thread setter, found once among the loaded libraries.
fn set_local() -> Option<SetLocal> {
    static FOUND: OnceLock<Option<SetLocal>> = OnceLock::new();
    *FOUND.get_or_init(|| {
        #[cfg(unix)]
        {
            // SAFETY: dlsym with RTLD_DEFAULT searches the libraries already loaded (libtorch_cpu
            // among them, a dependency of this binary) for a NUL-terminated name; it only reads.
            let p =
                unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"MKL_Set_Num_Threads_Local".as_ptr()) };
            if p.is_null() {
                return None;
            }
            // SAFETY: the symbol is MKL's C function `int MKL_Set_Num_Threads_Local(int)` (its
            // documented C interface), so the pointer is a function of exactly this type.
            Some(unsafe { std::mem::transmute::<*mut libc::c_void, SetLocal>(p) })
        }
        #[cfg(not(unix))]
        None
    })
}

/// While alive, the calling thread's matrix products use one thread; dropped, the thread's
/// previous setting comes back. Not `Send`: it belongs to the thread that made it.
pub struct OneBlasThread {
    previous: Option<c_int>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl OneBlasThread {
    /// Sets the calling thread's BLAS threads to one.
    pub fn new() -> Self {
        // SAFETY: MKL's setter takes any count and affects only the calling thread.
        let previous = set_local().map(|f| unsafe { f(1) });
        Self {
            previous,
            _not_send: std::marker::PhantomData,
        }
    }

    /// Whether the BLAS has a per-thread count (MKL); without one, products keep the process's
    /// threads.
    pub fn is_effective(&self) -> bool {
        self.previous.is_some()
    }
}

impl Default for OneBlasThread {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for OneBlasThread {
    fn drop(&mut self) {
        if let (Some(f), Some(p)) = (set_local(), self.previous) {
            // SAFETY: as in `new`; `p` is the value MKL returned for this thread.
            unsafe { f(p) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On the project's libtorch (x86-64, MKL linked in) the guard takes effect, nests, and gives
    /// the thread its setting back: 0, "the process's count", before and after.
    #[test]
    fn the_guard_sets_one_thread_here_and_gives_the_setting_back() {
        std::thread::spawn(|| {
            let outer = OneBlasThread::new();
            if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
                assert!(
                    outer.is_effective(),
                    "libtorch without MKL's per-thread count"
                );
            }
            if !outer.is_effective() {
                return;
            }
            assert_eq!(outer.previous, Some(0));
            let inner = OneBlasThread::new();
            assert_eq!(inner.previous, Some(1));
            drop(inner);
            drop(outer);
            assert_eq!(OneBlasThread::new().previous, Some(0));
        })
        .join()
        .unwrap();
    }
}
