//! The slow path (first call of each function) hands every kind of argument through
//! unchanged: integer and floating-point registers, stack arguments, variadic calls
//! (%al) and structures returned through a hidden pointer.

use std::ffi::{c_char, c_int, CStr};

use citygrid_lazylib::{is_loaded, Library, LAZY};

#[test]
fn first_calls_pass_every_kind_of_argument() {
    // Nothing has called GDAL or PROJ yet in this process, so the calls below are the
    // first ones and go through the slow path.
    assert!(!LAZY || !is_loaded(Library::Proj) && !is_loaded(Library::Gdal));

    // Four doubles in xmm0–3 and a 32-byte union returned through %rdi.
    // SAFETY: plain value function.
    let c = unsafe { proj_sys::proj_coord(1.5, -2.25, 1e6, 0.125) };
    // SAFETY: every member of PJ_COORD is four doubles.
    let v = unsafe { c.v };
    assert_eq!(v, [1.5, -2.25, 1e6, 0.125]);

    // Variadic with integers in registers and on the stack, doubles in xmm (%al = 2)
    // and a pointer on the stack.
    let mut buf = [0 as c_char; 128];
    // SAFETY: the buffer is 128 bytes, the format matches the arguments.
    let n = unsafe {
        gdal_sys::CPLsnprintf(
            buf.as_mut_ptr(),
            buf.len(),
            c"%d %d %d %d %.2f %.3f %s".as_ptr(),
            1 as c_int,
            -2 as c_int,
            3 as c_int,
            40000 as c_int,
            6.5f64,
            -7.125f64,
            c"end".as_ptr(),
        )
    };
    // SAFETY: CPLsnprintf NUL-terminates within the buffer.
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .expect("ASCII");
    assert_eq!(text, "1 -2 3 40000 6.50 -7.125 end");
    assert_eq!(usize::try_from(n).ok(), Some(text.len()));

    assert!(!LAZY || is_loaded(Library::Proj) && is_loaded(Library::Gdal));

    // The fast path (second call) gives the same answers.
    // SAFETY: as above.
    let again = unsafe { proj_sys::proj_coord(1.5, -2.25, 1e6, 0.125).v };
    assert_eq!(again, v);
}
