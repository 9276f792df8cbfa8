//! # citygrid-lazylib
//!
//! Loads libgdal and libproj the first time one of their functions is called, instead
//! of at program start. Linking against libgdal costs every process ≈ 50 ms in the
//! dynamic loader (libgdal needs ≈ 110 more shared libraries) and puts poppler, xerces,
//! curl… into the address space of `citygrid serve`, which never calls GDAL.
//!
//! On x86_64 Linux (glibc) the build script defines every C function libgdal and
//! libproj export as a tiny trampoline in this crate's object file. Because this crate
//! depends on `gdal-sys` and `proj-sys`, rustc puts it before their `-lgdal -lproj` on
//! the link line, so the linker resolves every GDAL and PROJ call to a trampoline and
//! (linking with `--as-needed`) records no `NEEDED` entry for either library. The first
//! call of a trampoline `dlopen()`s the library, `dlsym()`s the function, stores its
//! address and jumps there; later calls cost one load, one test and one indirect jump.
//!
//! A crate that calls GDAL or PROJ must name this crate once (`use citygrid_lazylib as _;`)
//! so that rustc links it. Elsewhere (another target, static GDAL, discovery failed,
//! `CITYGRID_LAZYLIB=0` at build time) the crate does nothing and the libraries are
//! linked as usual; [`LAZY`] says which. See `lazylib/README.md`.

// Named so that rustc links them after this crate (see the crate docs).
use gdal_sys as _;
use proj_sys as _;

#[cfg(citygrid_lazy)]
mod lazy;

/// True when GDAL and PROJ are loaded on first use, false when they are linked as usual.
pub const LAZY: bool = cfg!(citygrid_lazy);

/// A library this crate loads on first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Library {
    /// libgdal (GDAL/OGR, OSR, CPL, VSI).
    Gdal,
    /// libproj.
    Proj,
}

impl Library {
    /// Index in the generated tables (same order as the build script's list).
    #[cfg_attr(not(citygrid_lazy), allow(dead_code))]
    fn index(self) -> usize {
        match self {
            Library::Gdal => 0,
            Library::Proj => 1,
        }
    }

    /// "GDAL" or "PROJ".
    pub fn name(self) -> &'static str {
        match self {
            Library::Gdal => "GDAL",
            Library::Proj => "PROJ",
        }
    }
}

/// The library could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot load {soname}: {reason}; install {} (see README)", library.name())]
pub struct LoadError {
    /// The file asked for, e.g. `libgdal.so.32`.
    pub soname: String,
    /// What the dynamic loader said.
    pub reason: String,
    /// Which library.
    pub library: Library,
}

/// Loads `library` now if it is not loaded yet.
///
/// Not needed before calling GDAL or PROJ: the first call loads the library, but exits
/// the process (status 127, one line on stderr) when it cannot, since a trampoline has
/// no way to return an error. Call this first where a missing library should be an
/// error the caller can handle, e.g. in a server. Always `Ok` when [`LAZY`] is false
/// (the dynamic loader loaded the library at start).
pub fn load(library: Library) -> Result<(), LoadError> {
    #[cfg(citygrid_lazy)]
    {
        lazy::load(library.index()).map(|_| ())
    }
    #[cfg(not(citygrid_lazy))]
    {
        let _ = library;
        Ok(())
    }
}

/// Whether `library` has been loaded (always true when [`LAZY`] is false).
pub fn is_loaded(library: Library) -> bool {
    #[cfg(citygrid_lazy)]
    {
        lazy::is_loaded(library.index())
    }
    #[cfg(not(citygrid_lazy))]
    {
        let _ = library;
        true
    }
}

/// The file name the dynamic loader is asked for (`libgdal.so.32`), when [`LAZY`].
pub fn soname(library: Library) -> Option<&'static str> {
    #[cfg(citygrid_lazy)]
    {
        Some(lazy::soname(library.index()))
    }
    #[cfg(not(citygrid_lazy))]
    {
        let _ = library;
        None
    }
}
