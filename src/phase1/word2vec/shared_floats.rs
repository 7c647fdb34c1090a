//! The weights word2vec's Hogwild threads share (`threads > 1`), read and written four floats at
//! a time. This is word2vec's one `unsafe` module; its argument is below and in the spec page.
//!
//! Spec: spec/phase1-word2vec.md (Throughput, "Two threads" and "The shared floats").
//!
//! Every float lives in an [`AtomicU32`], grouped by four in a 16-byte aligned [`Quad`]. The
//! threads race on purpose (the C tool's and gensim's Hogwild: a read-modify-write by two threads
//! may lose one update), and Rust allows that only through atomic operations. There are two ways
//! to reach a quad ([`Access`]), chosen once per training run:
//!
//! * **Atomic elements** (every processor): four `Relaxed` loads or stores of the `AtomicU32`s.
//!   Safe code; each is a plain scalar move on x86-64, but the compiler cannot merge them into
//!   vector moves, so the arithmetic around them is fed one float at a time.
//! * **One aligned 16-byte move** (x86-64 processors that report AVX): an inline-assembly
//!   `vmovaps` of the whole quad. The argument that this is sound:
//!   1. Intel's manual (SDM vol. 3A, "Guaranteed Atomic Operations") and AMD's (APM vol. 2,
//!      "Memory Access Atomicity") both guarantee that on a processor which supports AVX, a 16-byte
//!      load or store of a 16-byte aligned address in cacheable memory by `MOVAPS`/`VMOVAPS`
//!      (VEX.128) is one atomic access. The quads are ordinary (write-back) heap memory, each
//!      16-byte aligned (`#[repr(C, align(16))]`), and the move is taken only after
//!      `is_x86_feature_detected!("avx")` said yes (which also checks that the system saves the
//!      AVX registers).
//!   2. So every one of the four floats is read (or written) whole, by one access, as a `Relaxed`
//!      atomic load (store) of that `AtomicU32` would do; x86's ordering (total store order) gives
//!      every per-location guarantee `Relaxed` asks for. The block behaves as four `Relaxed` atomic
//!      operations on memory that only atomic operations ever touch. Rust's rule for inline
//!      assembly is that a block must act as some Rust code could; that code exists (the first way
//!      above), so no data race in Rust's sense occurs and the compiler's assumptions hold. What
//!      Rust needs is only that each aligned 4-byte float is accessed whole; the 16-byte guarantee
//!      is the documented condition that gives it. A processor or emulator that reported AVX yet
//!      split an aligned 16-byte move into pieces smaller than 4 bytes would break the argument;
//!      we know of none.
//!   3. The pointer comes from a `&Quad`, whose bytes are all inside `UnsafeCell`s (`AtomicU32`),
//!      so writing through it from a shared reference is allowed; the block touches exactly those
//!      16 bytes, keeps the stack and flags, and the load is marked read-only.
//!
//! A 32-byte (`ymm`) move has no such guarantee, so none is used: wider arithmetic comes from the
//! compiler combining two quads.

use std::sync::atomic::{AtomicU32, Ordering};

/// Four floats, 16-byte aligned, each an `AtomicU32` holding its bits.
#[repr(C, align(16))]
pub(super) struct Quad([AtomicU32; 4]);

/// How a thread reads and writes a quad; [`Elements`] everywhere, [`Avx`] where proven.
pub(super) trait Access: Copy + Send {
    /// The four floats of the quad.
    fn load(self, quad: &Quad) -> [f32; 4];
    /// Writes the four floats of the quad.
    fn store(self, quad: &Quad, v: [f32; 4]);
    /// A hint that the thread is about to write `row`: where the processor has `PREFETCHW`, its
    /// cache lines are fetched ready for writing. No value is read or written.
    fn claim(self, row: &[Quad]);
}

/// Four `Relaxed` atomic loads or stores: every processor.
#[derive(Clone, Copy)]
pub(super) struct Elements;

impl Access for Elements {
    #[inline(always)]
    fn load(self, quad: &Quad) -> [f32; 4] {
        quad.0
            .each_ref()
            .map(|x| f32::from_bits(x.load(Ordering::Relaxed)))
    }
    #[inline(always)]
    fn store(self, quad: &Quad, v: [f32; 4]) {
        for (x, v) in quad.0.iter().zip(v) {
            x.store(v.to_bits(), Ordering::Relaxed);
        }
    }
    #[inline(always)]
    fn claim(self, _: &[Quad]) {}
}

/// One aligned 16-byte `vmovaps` per quad. A value of this type is the proof that the processor
/// reports AVX: [`Avx::detect`] is its only constructor. It also records whether the processor
/// has `PREFETCHW` (for [`Access::claim`]).
#[derive(Clone, Copy)]
pub(super) struct Avx {
    prefetchw: bool,
}

impl Avx {
    /// `Some` where the processor reports AVX (and with it the 16-byte atomicity of aligned
    /// moves, the module's argument).
    pub(super) fn detect() -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            use std::arch::x86_64::__cpuid;
            // PREFETCHW: CPUID leaf 0x8000_0001, ECX bit 8 (`3DNowPrefetch`, "PRFCHW"), read
            // directly because the standard library's detection of it is not stable yet.
            let prefetchw =
                __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0;
            return Some(Self { prefetchw });
        }
        None
    }
}

#[cfg(target_arch = "x86_64")]
impl Access for Avx {
    #[inline(always)]
    fn load(self, quad: &Quad) -> [f32; 4] {
        use std::arch::x86_64::__m128;
        let v: __m128;
        // SAFETY: `self` proves AVX; `quad` is a valid, 16-byte aligned reference to 16 bytes,
        // all of them atomics, read by one atomic access (the module's argument).
        unsafe {
            std::arch::asm!(
                "vmovaps {v}, xmmword ptr [{p}]",
                p = in(reg) std::ptr::from_ref(quad),
                v = out(xmm_reg) v,
                options(nostack, preserves_flags, readonly),
            );
            std::mem::transmute::<__m128, [f32; 4]>(v)
        }
    }
    #[inline(always)]
    fn store(self, quad: &Quad, v: [f32; 4]) {
        use std::arch::x86_64::__m128;
        // SAFETY: as in `load`; the 16 bytes written are inside the atomics' `UnsafeCell`s, so a
        // write through a pointer from a shared reference is allowed.
        unsafe {
            let v = std::mem::transmute::<[f32; 4], __m128>(v);
            std::arch::asm!(
                "vmovaps xmmword ptr [{p}], {v}",
                p = in(reg) std::ptr::from_ref(quad),
                v = in(xmm_reg) v,
                options(nostack, preserves_flags),
            );
        }
    }
    #[inline(always)]
    fn claim(self, row: &[Quad]) {
        if !self.prefetchw {
            return;
        }
        // One PREFETCHW per 64-byte cache line (four quads; a row starts on a 16-byte boundary,
        // so its last line may be missed, which only makes the hint a little weaker).
        for quad in row.iter().step_by(4) {
            // SAFETY: `prefetchw` was found in CPUID by `detect`; a prefetch changes no value
            // and cannot fault (a line past the end of the allocation would be harmless). It is
            // declared `readonly`, the conservative choice (`nomem` would be sound too, but the
            // compiler's lint objects to a pointer handed to a `nomem` block).
            unsafe {
                std::arch::asm!(
                    "prefetchw byte ptr [{p}]",
                    p = in(reg) std::ptr::from_ref(quad),
                    options(nostack, preserves_flags, readonly),
                );
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
impl Access for Avx {
    fn load(self, _: &Quad) -> [f32; 4] {
        unreachable!("Avx::detect returns None off x86-64")
    }
    fn store(self, _: &Quad, _: [f32; 4]) {
        unreachable!("Avx::detect returns None off x86-64")
    }
    fn claim(self, _: &[Quad]) {}
}

/// A matrix of `rows × width` floats shared by threads, each row padded with zeros to a whole
/// number of quads so that every row starts on a 16-byte boundary.
pub(super) struct SharedFloats {
    quads: Box<[Quad]>,
    width: usize,
    /// Quads per row.
    stride: usize,
}

impl SharedFloats {
    /// `values` holds `rows × width` floats, row after row.
    pub(super) fn new(values: &[f32], width: usize) -> Self {
        let stride = width.div_ceil(4);
        let rows = values.len().checked_div(width).unwrap_or(0);
        let mut quads = Vec::with_capacity(rows * stride);
        for row in values.chunks_exact(width.max(1)).take(rows) {
            for q in 0..stride {
                let mut four = [0f32; 4];
                for (k, v) in four.iter_mut().enumerate() {
                    *v = row.get(q * 4 + k).copied().unwrap_or(0.0);
                }
                quads.push(Quad(four.map(|v| AtomicU32::new(v.to_bits()))));
            }
        }
        Self {
            quads: quads.into_boxed_slice(),
            width,
            stride,
        }
    }

    /// The quads of row `r`.
    #[inline(always)]
    pub(super) fn row(&self, r: usize) -> &[Quad] {
        &self.quads[r * self.stride..][..self.stride]
    }

    /// Quads per row.
    pub(super) fn stride(&self) -> usize {
        self.stride
    }

    /// The floats, `rows × width`, padding dropped.
    pub(super) fn into_values(self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.quads.len() / self.stride.max(1) * self.width);
        for row in self.quads.chunks(self.stride.max(1)) {
            out.extend(row.iter().flat_map(|q| Elements.load(q)).take(self.width));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways in read back what was stored, rows padded with zeros, and `into_values` drops
    /// the padding (width 6: one full quad and a half one per row).
    #[test]
    fn both_ways_store_and_load_the_same_floats() {
        fn check(access: impl Access) {
            let values: Vec<f32> = (0..18).map(|i| i as f32 * 0.5 - 3.0).collect();
            let m = SharedFloats::new(&values, 6);
            assert_eq!(m.stride(), 2);
            assert_eq!(access.load(&m.row(0)[1]), [-1.0, -0.5, 0.0, 0.0]);
            access.store(&m.row(1)[1], [1.0, 2.0, 3.0, 4.0]);
            assert_eq!(access.load(&m.row(1)[1]), [1.0, 2.0, 3.0, 4.0]);
            assert_eq!(Elements.load(&m.row(1)[1]), [1.0, 2.0, 3.0, 4.0]);
            let mut want = values.clone();
            want[10..12].copy_from_slice(&[1.0, 2.0]);
            assert_eq!(m.into_values(), want);
        }
        check(Elements);
        // Every machine this package is tested on reports AVX; elsewhere only the first way runs.
        if let Some(avx) = Avx::detect() {
            check(avx);
        }
    }
}
