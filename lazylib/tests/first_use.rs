//! Each library is loaded by the first call of one of its functions, not before, and the
//! answers come from the real libraries.

use std::ffi::CStr;

use citygrid_lazylib::{is_loaded, Library, LAZY};

/// Whether the lazy mechanism should be on for this build (x86_64 Linux with glibc,
/// unless switched off with `CITYGRID_LAZYLIB=0` at build time).
fn lazy_expected() -> bool {
    let switched_off = matches!(option_env!("CITYGRID_LAZYLIB"), Some("0" | "off" | "no"));
    cfg!(all(
        target_os = "linux",
        target_arch = "x86_64",
        target_env = "gnu"
    )) && !switched_off
}

/// Whether the dynamic loader has `soname` mapped in this process (asks it with
/// RTLD_NOLOAD, which never loads anything).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn mapped(library: Library) -> bool {
    let soname = citygrid_lazylib::soname(library).expect("lazy build has sonames");
    let name = std::ffi::CString::new(soname).expect("soname without NUL");
    // SAFETY: valid C string; RTLD_NOLOAD only looks up an already loaded object. The
    // extra reference it takes is harmless (the library is never unloaded).
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
    !handle.is_null()
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn mapped(_library: Library) -> bool {
    true
}

#[test]
fn each_library_is_loaded_by_its_first_call() {
    assert_eq!(
        LAZY,
        lazy_expected(),
        "citygrid-lazylib's build script fell back to normal linking (see its cargo:warning)"
    );
    if !LAZY {
        eprintln!("lazy loading not in use on this target: checking the plain calls only");
    }

    if LAZY {
        assert!(
            !mapped(Library::Proj),
            "libproj mapped before any PROJ call"
        );
        assert!(
            !mapped(Library::Gdal),
            "libgdal mapped before any GDAL call"
        );
        assert!(!is_loaded(Library::Proj) && !is_loaded(Library::Gdal));
    }

    // SAFETY: proj_info takes no arguments and returns static data.
    let info = unsafe { proj_sys::proj_info() };
    assert!(info.major >= 6, "PROJ major version {}", info.major);
    // SAFETY: `release` is a static NUL-terminated string owned by PROJ.
    let release = unsafe { CStr::from_ptr(info.release) }.to_string_lossy();
    assert!(
        release.contains(&format!("{}.{}", info.major, info.minor)),
        "{release}"
    );

    if LAZY {
        assert!(
            mapped(Library::Proj),
            "libproj not mapped after proj_info()"
        );
        assert!(is_loaded(Library::Proj));
        assert!(!mapped(Library::Gdal), "a PROJ call loaded libgdal");
    }

    // SAFETY: a valid NUL-terminated request; GDAL returns a static string.
    let version = unsafe { CStr::from_ptr(gdal_sys::GDALVersionInfo(c"RELEASE_NAME".as_ptr())) };
    let version = version.to_str().expect("GDAL version is ASCII");
    assert!(version.starts_with("3."), "GDAL RELEASE_NAME {version:?}");

    if LAZY {
        assert!(
            mapped(Library::Gdal),
            "libgdal not mapped after GDALVersionInfo()"
        );
        assert!(is_loaded(Library::Gdal));
    }
    // Loading again is a no-op.
    assert_eq!(citygrid_lazylib::load(Library::Gdal), Ok(()));
    assert_eq!(citygrid_lazylib::load(Library::Proj), Ok(()));
}
