//! The real card's driver: the MSM and NTT engines on an AMD/Xilinx Alveo card through XRT's
//! C API (`libxrt_coreutil`, Debian `libxrt-dev`), behind the same [`EngineCard`] and
//! [`NttCard`] traits as the co-simulation, so one host code path ([`crate::msm`],
//! [`crate::ntt`]) drives either (the pattern of Zama's HPU).
//!
//! The card runs the bitstream `hw/xclbin.sh` builds (Vitis `v++` on the RTL kernels; it
//! cannot run on this project's machines, which have no Vitis and no card). Its two kernels
//! take the co-simulation's buffers and arguments:
//! - `fornax_msm(points, scalars, buckets, n, stats)`;
//! - `fornax_ntt(data, twiddles, factors, passes, log_n, pass_count, stats)`;
//!
//! with the layouts of [`crate::card`] and [`crate::ntt`], and `stats` the kernel's cycle
//! counters in the layout of [`EngineStats`] / [`NttStats`].
//!
//! XRT is loaded at run time (`dlopen` of `libxrt_coreutil.so.2`), so a build with this
//! feature runs on machines without XRT and says so when asked for a card. The prototypes
//! below are checked against XRT's own headers at build time where they are installed
//! (`build.rs`, `sim/xrt_prototypes.c`).

use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::path::Path;
use std::sync::Arc;

use crate::card::{check_buffers, EngineCard, EngineShape, EngineStats};
use crate::ntt::{check_run, NttCard, NttStats, Pass};
use crate::HwError;

type Handle = *mut c_void;

/// `XCL_BO_SYNC_BO_TO_DEVICE` and `XCL_BO_SYNC_BO_FROM_DEVICE` (`xrt.h`).
const SYNC_TO_DEVICE: c_int = 0;
const SYNC_FROM_DEVICE: c_int = 1;
/// `ERT_CMD_STATE_COMPLETED` (`ert.h`).
const COMPLETED: c_int = 4;
/// `XRT_BO_FLAGS_NONE`.
const BO_FLAGS_NONE: u64 = 0;

/// The functions of XRT's C API the driver calls, loaded from `libxrt_coreutil`.
struct Xrt {
    _lib: libloading::Library,
    device_open: unsafe extern "C" fn(c_uint) -> Handle,
    device_close: unsafe extern "C" fn(Handle) -> c_int,
    load_xclbin: unsafe extern "C" fn(Handle, *const c_char) -> c_int,
    xclbin_uuid: unsafe extern "C" fn(Handle, *mut u8) -> c_int,
    kernel_open: unsafe extern "C" fn(Handle, *const u8, *const c_char) -> Handle,
    kernel_close: unsafe extern "C" fn(Handle) -> c_int,
    arg_group: unsafe extern "C" fn(Handle, c_int) -> c_int,
    kernel_run: unsafe extern "C" fn(Handle, ...) -> Handle,
    run_wait: unsafe extern "C" fn(Handle) -> c_int,
    run_close: unsafe extern "C" fn(Handle) -> c_int,
    bo_alloc: unsafe extern "C" fn(Handle, usize, u64, u32) -> Handle,
    bo_free: unsafe extern "C" fn(Handle) -> c_int,
    bo_write: unsafe extern "C" fn(Handle, *const c_void, usize, usize) -> c_int,
    bo_read: unsafe extern "C" fn(Handle, *mut c_void, usize, usize) -> c_int,
    bo_sync: unsafe extern "C" fn(Handle, c_int, usize, usize) -> c_int,
}

impl Xrt {
    fn load() -> Result<Self, HwError> {
        let names = ["libxrt_coreutil.so.2", "libxrt_coreutil.so"];
        // SAFETY: loading XRT's library runs its initialisers, which only set up XRT.
        let lib = names
            .iter()
            .find_map(|n| unsafe { libloading::Library::new(n) }.ok())
            .ok_or_else(|| {
                HwError::Card(
                    "XRT is not installed: no libxrt_coreutil.so.2 (apt install libxrt1)".into(),
                )
            })?;
        Ok(Xrt {
            device_open: sym(&lib, "xrtDeviceOpen")?,
            device_close: sym(&lib, "xrtDeviceClose")?,
            load_xclbin: sym(&lib, "xrtDeviceLoadXclbinFile")?,
            xclbin_uuid: sym(&lib, "xrtDeviceGetXclbinUUID")?,
            kernel_open: sym(&lib, "xrtPLKernelOpen")?,
            kernel_close: sym(&lib, "xrtKernelClose")?,
            arg_group: sym(&lib, "xrtKernelArgGroupId")?,
            kernel_run: sym(&lib, "xrtKernelRun")?,
            run_wait: sym(&lib, "xrtRunWait")?,
            run_close: sym(&lib, "xrtRunClose")?,
            bo_alloc: sym(&lib, "xrtBOAlloc")?,
            bo_free: sym(&lib, "xrtBOFree")?,
            bo_write: sym(&lib, "xrtBOWrite")?,
            bo_read: sym(&lib, "xrtBORead")?,
            bo_sync: sym(&lib, "xrtBOSync")?,
            _lib: lib,
        })
    }
}

/// The function `name` of XRT's library, as the prototype `T` (a function pointer type).
fn sym<T: Copy>(lib: &libloading::Library, name: &str) -> Result<T, HwError> {
    let symbol = format!("{name}\0");
    // SAFETY: `T` is the prototype of XRT's header for `name` (the prototypes are checked
    // against the installed headers at build time, sim/xrt_prototypes.c).
    unsafe { lib.get::<T>(symbol.as_bytes()) }
        .map(|s| *s)
        .map_err(|e| HwError::Card(format!("XRT lacks {name}: {e}")))
}

/// A buffer object on the card, freed on drop.
struct Bo<'a> {
    xrt: &'a Xrt,
    handle: Handle,
    bytes: usize,
}

impl<'a> Bo<'a> {
    /// A buffer of `bytes` (at least 64) in the memory bank of `kernel`'s argument `arg`.
    fn new(
        xrt: &'a Xrt,
        device: Handle,
        kernel: Handle,
        arg: c_int,
        bytes: usize,
    ) -> Result<Self, HwError> {
        let bytes = bytes.max(64);
        // SAFETY: live device and kernel handles; XRT returns a null handle on failure.
        let handle = unsafe {
            let group = (xrt.arg_group)(kernel, arg);
            (xrt.bo_alloc)(device, bytes, BO_FLAGS_NONE, group as u32)
        };
        if handle.is_null() {
            return Err(HwError::Card(format!(
                "could not allocate {bytes} bytes for argument {arg}"
            )));
        }
        Ok(Bo { xrt, handle, bytes })
    }

    /// Writes `words` at the start and moves them to the card.
    fn upload(&self, words: &[u32]) -> Result<(), HwError> {
        let len = std::mem::size_of_val(words);
        // SAFETY: `words` is `len` bytes; the buffer holds at least that many.
        let rc = unsafe {
            (self.xrt.bo_write)(self.handle, words.as_ptr().cast(), len, 0)
                | (self.xrt.bo_sync)(self.handle, SYNC_TO_DEVICE, self.bytes, 0)
        };
        ok(rc, "writing a buffer to the card")
    }

    /// Moves the buffer back from the card and reads its start into `out`.
    fn download<T: Copy>(&self, out: &mut [T]) -> Result<(), HwError> {
        let len = std::mem::size_of_val(out);
        // SAFETY: `out` is `len` bytes of plain data; the buffer holds at least that many.
        let rc = unsafe {
            (self.xrt.bo_sync)(self.handle, SYNC_FROM_DEVICE, self.bytes, 0)
                | (self.xrt.bo_read)(self.handle, out.as_mut_ptr().cast(), len, 0)
        };
        ok(rc, "reading a buffer from the card")
    }
}

impl Drop for Bo<'_> {
    fn drop(&mut self) {
        // SAFETY: a live buffer, freed once.
        unsafe { (self.xrt.bo_free)(self.handle) };
    }
}

/// Where the Alveo cards' user functions are bound (XRT's `xocl` driver).
const XOCL: &str = "/sys/bus/pci/drivers/xocl";

/// PCI devices bound to `xocl`: the cards XRT can open.
fn alveo_cards() -> usize {
    std::fs::read_dir(XOCL).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(':'))
            .count()
    })
}

fn ok(rc: c_int, what: &str) -> Result<(), HwError> {
    match rc {
        0 => Ok(()),
        rc => Err(HwError::Card(format!("{what}: XRT error {rc}"))),
    }
}

/// One Alveo card with the Fornax bitstream loaded: both engines.
pub struct XrtCard {
    xrt: Arc<Xrt>,
    device: Handle,
    msm: Handle,
    ntt: Handle,
    shape: EngineShape,
    max_log_ntt: u32,
    index: u32,
}

// SAFETY: XRT's handles may be used from any thread; the card is used through `&mut self`.
unsafe impl Send for XrtCard {}

impl XrtCard {
    /// Opens card `index`, loads `xclbin` (the bitstream `hw/xclbin.sh` builds, with the
    /// engines' parameters `window_bits` and `max_log_ntt` it was built with) and opens its
    /// two kernels.
    pub fn open(
        index: u32,
        xclbin: &Path,
        window_bits: u32,
        max_log_ntt: u32,
    ) -> Result<Self, HwError> {
        // XRT 2.13 ends the process (a C++ exception through its C API) when asked for a card
        // that is not there: look first.
        let cards = alveo_cards();
        if cards <= index as usize {
            return Err(HwError::Card(format!(
                "no Alveo card {index}: {cards} device(s) bound to the xocl driver ({XOCL})"
            )));
        }
        let xrt = Arc::new(Xrt::load()?);
        let path = CString::new(xclbin.as_os_str().as_encoded_bytes())
            .map_err(|_| HwError::Card("the xclbin path holds a NUL byte".into()))?;
        // SAFETY: XRT's documented sequence; every handle is checked before use and closed
        // on the way out if a later step fails.
        unsafe {
            let device = (xrt.device_open)(index);
            if device.is_null() {
                return Err(HwError::Card(format!(
                    "no Alveo card {index} (xrtDeviceOpen)"
                )));
            }
            let close = |why: String| {
                (xrt.device_close)(device);
                HwError::Card(why)
            };
            if (xrt.load_xclbin)(device, path.as_ptr()) != 0 {
                return Err(close(format!("could not load {}", xclbin.display())));
            }
            let mut uuid = [0u8; 16];
            if (xrt.xclbin_uuid)(device, uuid.as_mut_ptr()) != 0 {
                return Err(close("could not read the xclbin's UUID".into()));
            }
            let msm = (xrt.kernel_open)(device, uuid.as_ptr(), c"fornax_msm".as_ptr());
            let ntt = (xrt.kernel_open)(device, uuid.as_ptr(), c"fornax_ntt".as_ptr());
            if msm.is_null() || ntt.is_null() {
                for k in [msm, ntt].into_iter().filter(|k| !k.is_null()) {
                    (xrt.kernel_close)(k);
                }
                return Err(close(format!(
                    "{} has no fornax_msm and fornax_ntt kernels",
                    xclbin.display()
                )));
            }
            Ok(XrtCard {
                xrt,
                device,
                msm,
                ntt,
                shape: EngineShape { window_bits },
                max_log_ntt,
                index,
            })
        }
    }

    /// Starts `kernel` with `args` already bound by the caller and waits for it.
    fn wait(&self, run: Handle, what: &str) -> Result<(), HwError> {
        if run.is_null() {
            return Err(HwError::Card(format!("{what}: the kernel did not start")));
        }
        // SAFETY: a live run handle, closed once.
        let state = unsafe {
            let state = (self.xrt.run_wait)(run);
            (self.xrt.run_close)(run);
            state
        };
        match state {
            COMPLETED => Ok(()),
            s => Err(HwError::Card(format!(
                "{what}: the kernel ended in state {s}"
            ))),
        }
    }
}

impl Drop for XrtCard {
    fn drop(&mut self) {
        // SAFETY: live handles, closed once.
        unsafe {
            (self.xrt.kernel_close)(self.msm);
            (self.xrt.kernel_close)(self.ntt);
            (self.xrt.device_close)(self.device);
        }
    }
}

impl EngineCard for XrtCard {
    fn shape(&self) -> EngineShape {
        self.shape
    }

    fn describe(&self) -> String {
        format!(
            "Alveo card {} (XRT): BN254 G1 MSM bucket engine (C = {})",
            self.index, self.shape.window_bits
        )
    }

    fn accumulate(
        &mut self,
        points: &[u32],
        scalars: &[u32],
        buckets: &mut [u32],
    ) -> Result<EngineStats, HwError> {
        let n = check_buffers(self.shape, points, scalars, buckets)?;
        let x = &*self.xrt;
        let bo = |arg, bytes| Bo::new(x, self.device, self.msm, arg, bytes);
        let (p, s, b) = (
            bo(0, points.len() * 4)?,
            bo(1, scalars.len() * 4)?,
            bo(2, buckets.len() * 4)?,
        );
        let st = bo(4, std::mem::size_of::<EngineStats>())?;
        p.upload(points)?;
        s.upload(scalars)?;
        // SAFETY: the kernel's arguments, in its order, as XRT's variadic run takes them:
        // buffer handles, then the 64-bit count.
        let run =
            unsafe { (x.kernel_run)(self.msm, p.handle, s.handle, b.handle, n as u64, st.handle) };
        self.wait(run, "fornax_msm")?;
        b.download(buckets)?;
        let mut stats = [EngineStats::default()];
        st.download(&mut stats)?;
        Ok(stats[0])
    }
}

impl NttCard for XrtCard {
    fn max_log_size(&self) -> u32 {
        self.max_log_ntt
    }

    fn run(
        &mut self,
        log_n: u32,
        data: &mut [u32],
        twiddles: &[u32],
        factors: Option<&[u32]>,
        passes: &[Pass],
    ) -> Result<NttStats, HwError> {
        check_run(self.max_log_ntt, log_n, data, twiddles, factors, passes)?;
        let x = &*self.xrt;
        let bo = |arg, bytes| Bo::new(x, self.device, self.ntt, arg, bytes);
        let words: Vec<u32> = passes.iter().map(|p| p.word()).collect();
        let factors = factors.unwrap_or(&[]);
        let (d, t, f, q) = (
            bo(0, data.len() * 4)?,
            bo(1, twiddles.len() * 4)?,
            bo(2, factors.len() * 4)?,
            bo(3, words.len() * 4)?,
        );
        let st = bo(6, std::mem::size_of::<NttStats>())?;
        d.upload(data)?;
        t.upload(twiddles)?;
        f.upload(factors)?;
        q.upload(&words)?;
        // SAFETY: the kernel's arguments in its order: four buffers, two 32-bit scalars, a
        // buffer.
        let run = unsafe {
            (x.kernel_run)(
                self.ntt,
                d.handle,
                t.handle,
                f.handle,
                q.handle,
                log_n,
                words.len() as u32,
                st.handle,
            )
        };
        self.wait(run, "fornax_ntt")?;
        d.download(data)?;
        let mut stats = [NttStats::default()];
        st.download(&mut stats)?;
        Ok(stats[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under the test command (`FORNAX_REQUIRE_XRT=1`, libxrt-dev installed by the set-up)
    /// the build compiled the driver's prototypes against XRT's headers.
    #[test]
    fn the_prototypes_were_checked_against_xrt_headers() {
        let checked = cfg!(fornax_xrt_checked);
        if std::env::var("FORNAX_REQUIRE_XRT").as_deref() == Ok("1") {
            assert!(checked, "libxrt-dev's headers were missing at build time");
        } else if !checked {
            eprintln!("SKIPPED: XRT's headers were missing at build time");
        }
    }

    /// Without a card, opening one is an error that says so, never a crash (these machines
    /// have none).
    #[test]
    fn no_card_is_a_clear_error() {
        let err = XrtCard::open(0, Path::new("/nonexistent/fornax.xclbin"), 13, 24)
            .err()
            .expect("no card on this machine");
        let message = err.to_string();
        assert!(
            message.contains("XRT is not installed")
                || message.contains("no Alveo card")
                || message.contains("could not load"),
            "{message}"
        );
    }
}
