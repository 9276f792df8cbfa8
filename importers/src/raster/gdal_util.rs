//! Small safe helpers around the raw GDAL C API (`gdal-sys`) that the `gdal`
//! crate does not wrap: the `gdalwarp` library entry point and GDAL's last error.

use std::ffi::{CStr, CString};
use std::sync::Once;

use gdal::cpl::CslStringList;
use gdal::Dataset;

/// GDAL's last error message on this thread (empty when there was none).
pub fn last_error() -> String {
    // SAFETY: CPLGetLastErrorMsg returns a pointer to a thread-local,
    // NUL-terminated buffer owned by GDAL (never NULL).
    let message = unsafe {
        let ptr = gdal_sys::CPLGetLastErrorMsg();
        if ptr.is_null() {
            String::new()
        } else {
            CStr::from_ptr(ptr).to_string_lossy().into_owned()
        }
    };
    message.replace('\n', " ").trim().to_string()
}

/// Clears GDAL's last error on this thread.
pub fn reset_error() {
    // SAFETY: no arguments; only touches thread-local state.
    unsafe { gdal_sys::CPLErrorReset() }
}

/// Sends GDAL's own error and warning messages to `tracing` (debug level) instead
/// of GDAL's default handler, which prints them on stderr; the importer reports
/// failures itself with [`last_error`]. Installed once per process.
pub fn quiet_gdal_messages() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        gdal::config::set_error_handler(|class, number, message| {
            tracing::debug!(target: "citygrid_importers::raster::gdal", ?class, number, "{message}");
        });
    });
}

/// Runs the `gdalwarp` library function (`GDALWarp`) on `src` with the
/// command-line style `args`, returning the new (MEM or VRT) dataset.
pub fn warp(src: &Dataset, args: &[String]) -> Result<Dataset, String> {
    let mut list = CslStringList::new();
    for arg in args {
        list.add_string(arg).map_err(|e| e.to_string())?;
    }
    let dest = CString::default();
    reset_error();
    // SAFETY: `list` outlives the options object, which is freed below; the
    // source handle is valid for the duration of the call and GDALWarp does
    // not keep it after returning a MEM dataset; the returned handle is owned
    // by the new `Dataset`, which closes it on drop.
    unsafe {
        let options = gdal_sys::GDALWarpAppOptionsNew(list.as_ptr(), std::ptr::null_mut());
        if options.is_null() {
            return Err(format!("bad warp options {args:?}: {}", last_error()));
        }
        let mut sources = [src.c_dataset()];
        let mut usage_error: std::ffi::c_int = 0;
        let out = gdal_sys::GDALWarp(
            dest.as_ptr(),
            std::ptr::null_mut(),
            1,
            sources.as_mut_ptr(),
            options,
            &mut usage_error,
        );
        gdal_sys::GDALWarpAppOptionsFree(options);
        if out.is_null() {
            let message = last_error();
            return Err(if message.is_empty() {
                "GDAL warp failed".to_string()
            } else {
                message
            });
        }
        let dataset = Dataset::from_c_dataset(out);
        // Read errors inside the warper are reported but may not fail the call.
        if gdal_sys::CPLGetLastErrorType() == gdal_sys::CPLErr::CE_Failure {
            let message = last_error();
            drop(dataset);
            return Err(message);
        }
        Ok(dataset)
    }
}
