//! Finds libgdal and libproj, reads the C functions they export and generates one
//! trampoline per function (`$OUT_DIR/trampolines.s`) plus the symbol table the
//! resolver uses (`$OUT_DIR/table.rs`). When anything here does not work out (another
//! target, static GDAL, a library that cannot be found or read, `CITYGRID_LAZYLIB=0`)
//! it generates nothing, prints a `cargo:warning` and the libraries are linked as usual.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// One library to load lazily.
struct LibSpec {
    /// Name used in messages ("GDAL").
    display: &'static str,
    /// Link name (`-lgdal`), also the pkg-config package name.
    link_name: &'static str,
    /// Which exported functions get a trampoline: plain C identifiers with one of these
    /// prefixes (for GDAL, the `allowlist_function` patterns of gdal-sys' bindgen run;
    /// for PROJ, everything `proj.h` declares).
    prefixes: &'static [&'static str],
    /// Directories from environment variables the -sys crate also reads.
    env_dirs: fn() -> Vec<PathBuf>,
}

/// A library found on this machine.
struct FoundLib {
    soname: String,
    path: PathBuf,
    functions: Vec<String>,
}

const LIBS: [LibSpec; 2] = [
    LibSpec {
        display: "GDAL",
        link_name: "gdal",
        prefixes: &["CPL", "CSL", "GDAL", "OGR", "OSR", "OCT", "VSI"],
        env_dirs: gdal_env_dirs,
    },
    LibSpec {
        display: "PROJ",
        link_name: "proj",
        prefixes: &["proj_", "geod_"],
        env_dirs: Vec::new,
    },
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(citygrid_lazy)");
    println!("cargo:rerun-if-changed=build.rs");
    for var in [
        "CITYGRID_LAZYLIB",
        "GDAL_STATIC",
        "GDAL_DYNAMIC",
        "GDAL_LIB_DIR",
        "GDAL_HOME",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "CC",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    match discover() {
        Ok(libs) => {
            let (asm, table) = generate(&libs);
            fs::write(out_dir.join("trampolines.s"), asm).expect("write trampolines.s");
            fs::write(out_dir.join("table.rs"), table).expect("write table.rs");
            for lib in &libs {
                println!("cargo:rerun-if-changed={}", lib.path.display());
            }
            println!("cargo:rustc-cfg=citygrid_lazy");
        }
        Err(why) => {
            println!(
                "cargo:warning=citygrid-lazylib: GDAL and PROJ are linked as usual \
                 (loaded at program start): {why}"
            );
        }
    }
}

fn discover() -> Result<Vec<FoundLib>, String> {
    if env::var("CITYGRID_LAZYLIB").is_ok_and(|v| matches!(v.trim(), "0" | "off" | "no")) {
        return Err("disabled by CITYGRID_LAZYLIB".into());
    }
    let target = |key: &str| env::var(key).unwrap_or_default();
    if target("CARGO_CFG_TARGET_OS") != "linux"
        || target("CARGO_CFG_TARGET_ARCH") != "x86_64"
        || target("CARGO_CFG_TARGET_ENV") != "gnu"
    {
        return Err("lazy loading is implemented for x86_64 Linux (glibc) only".into());
    }
    if env::var("HOST").ok() != env::var("TARGET").ok() {
        return Err("cross-compiling: the build machine's libraries say nothing".into());
    }
    if env::var_os("GDAL_STATIC").is_some() && env::var_os("GDAL_DYNAMIC").is_none() {
        return Err("GDAL_STATIC is set (static GDAL defines the functions itself)".into());
    }
    LIBS.iter().map(find_lib).collect()
}

fn gdal_env_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = env::var_os("GDAL_LIB_DIR") {
        dirs.push(PathBuf::from(dir));
    } else if let Some(home) = env::var_os("GDAL_HOME") {
        dirs.push(PathBuf::from(home).join("lib"));
    }
    dirs
}

/// Finds `lib<name>.so` where the linker will: the -sys crate's own directories, then
/// pkg-config's `-L` and `libdir`, then the C compiler's search path.
fn find_lib(spec: &LibSpec) -> Result<FoundLib, String> {
    let file = format!("lib{}.so", spec.link_name);
    let mut dirs = (spec.env_dirs)();
    if let Some(out) = run("pkg-config", &["--libs-only-L", spec.link_name]) {
        dirs.extend(
            out.split_whitespace()
                .filter_map(|flag| flag.strip_prefix("-L"))
                .map(PathBuf::from),
        );
    }
    if let Some(out) = run("pkg-config", &["--variable=libdir", spec.link_name]) {
        dirs.push(PathBuf::from(out.trim()));
    }
    let mut candidates: Vec<PathBuf> = dirs.iter().map(|d| d.join(&file)).collect();
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    if let Some(out) = run(&cc, &[&format!("-print-file-name={file}")]) {
        candidates.push(PathBuf::from(out.trim()));
    }
    let path = candidates
        .into_iter()
        .find(|p| p.is_absolute() && p.is_file())
        .ok_or_else(|| format!("{file} not found (pkg-config {}, cc)", spec.link_name))?;
    let path = fs::canonicalize(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let elf = parse_elf(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let soname = elf
        .soname
        .ok_or_else(|| format!("{}: no DT_SONAME", path.display()))?;
    let mut functions: Vec<String> = elf
        .functions
        .into_iter()
        .filter(|name| {
            spec.prefixes.iter().any(|p| name.starts_with(p))
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .collect();
    functions.sort();
    functions.dedup();
    if functions.is_empty() {
        return Err(format!(
            "{}: exports no {} functions",
            path.display(),
            spec.display
        ));
    }
    // Load the library by the path the build saw when the soname alone is not found.
    let path = path
        .parent()
        .map(|dir| dir.join(&soname))
        .filter(|p| p.is_file())
        .unwrap_or(path);
    Ok(FoundLib {
        soname,
        path,
        functions,
    })
}

fn run(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()
}

/// What the trampolines need from a shared library's ELF file.
struct ElfInfo {
    soname: Option<String>,
    /// Defined, default-visibility global or weak functions in `.dynsym`.
    functions: Vec<String>,
}

/// Reads DT_SONAME and the exported functions of an ELF64 little-endian x86_64 file.
fn parse_elf(b: &[u8]) -> Result<ElfInfo, String> {
    let u16_at = |o: usize| -> Result<u64, String> {
        b.get(o..o + 2)
            .map(|s| u64::from(u16::from_le_bytes([s[0], s[1]])))
            .ok_or_else(|| "truncated ELF".to_string())
    };
    let u32_at = |o: usize| -> Result<u64, String> {
        b.get(o..o + 4)
            .map(|s| u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]])))
            .ok_or_else(|| "truncated ELF".to_string())
    };
    let u64_at = |o: usize| -> Result<u64, String> {
        b.get(o..o + 8)
            .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
            .ok_or_else(|| "truncated ELF".to_string())
    };
    let to_usize = |v: u64| usize::try_from(v).map_err(|_| "ELF offset overflow".to_string());
    if b.get(0..4) != Some(b"\x7fELF".as_slice()) {
        return Err("not an ELF file (a linker script?)".into());
    }
    if b.get(4) != Some(&2) || b.get(5) != Some(&1) || u16_at(18)? != 62 {
        return Err("not an ELF64 little-endian x86_64 file".into());
    }
    let shoff = to_usize(u64_at(0x28)?)?;
    let shentsize = to_usize(u16_at(0x3a)?)?;
    let shnum = to_usize(u16_at(0x3c)?)?;
    if shentsize < 64 {
        return Err("bad section header size".into());
    }
    struct Section {
        kind: u64,
        offset: usize,
        size: usize,
        link: usize,
    }
    let mut sections = Vec::with_capacity(shnum);
    for i in 0..shnum {
        let h = shoff + i * shentsize;
        sections.push(Section {
            kind: u32_at(h + 4)?,
            offset: to_usize(u64_at(h + 24)?)?,
            size: to_usize(u64_at(h + 32)?)?,
            link: to_usize(u32_at(h + 40)?)?,
        });
    }
    let string = |table: &Section, at: usize| -> Result<String, String> {
        let start = table.offset + at;
        let end = table.offset + table.size;
        let bytes = b.get(start..end).ok_or("string outside its table")?;
        let len = bytes
            .iter()
            .position(|&c| c == 0)
            .ok_or("unterminated string")?;
        String::from_utf8(bytes[..len].to_vec()).map_err(|_| "non-UTF-8 name".to_string())
    };
    const SHT_DYNSYM: u64 = 11;
    const SHT_DYNAMIC: u64 = 6;
    let mut info = ElfInfo {
        soname: None,
        functions: Vec::new(),
    };
    for section in &sections {
        let strtab = || sections.get(section.link).ok_or("bad sh_link");
        if section.kind == SHT_DYNAMIC {
            let strtab = strtab()?;
            for e in 0..section.size / 16 {
                let at = section.offset + e * 16;
                if u64_at(at)? == 14 {
                    // DT_SONAME
                    info.soname = Some(string(strtab, to_usize(u64_at(at + 8)?)?)?);
                }
            }
        } else if section.kind == SHT_DYNSYM {
            let strtab = strtab()?;
            for e in 1..section.size / 24 {
                let at = section.offset + e * 24;
                let st_info = b.get(at + 4).copied().ok_or("truncated symbol")?;
                let st_other = b.get(at + 5).copied().ok_or("truncated symbol")?;
                let shndx = u16_at(at + 6)?;
                let kind = st_info & 0xf; // 2 FUNC, 10 GNU_IFUNC
                let bind = st_info >> 4; // 1 GLOBAL, 2 WEAK
                let visibility = st_other & 3; // 0 DEFAULT, 3 PROTECTED
                if matches!(kind, 2 | 10)
                    && matches!(bind, 1 | 2)
                    && matches!(visibility, 0 | 3)
                    && shndx != 0
                {
                    info.functions.push(string(strtab, to_usize(u32_at(at)?)?)?);
                }
            }
        }
    }
    Ok(info)
}

/// The trampolines (AT&T syntax, for `global_asm!`) and the Rust table.
fn generate(libs: &[FoundLib]) -> (String, String) {
    let mut asm = String::new();
    let mut table = String::new();
    let total: usize = libs.iter().map(|l| l.functions.len()).sum();
    let _ = writeln!(table, "/// Number of trampolines.");
    let _ = writeln!(table, "pub(crate) const COUNT: usize = {total};");
    let _ = writeln!(table, "/// The libraries, by `LibIndex`.");
    let _ = writeln!(
        table,
        "pub(crate) const LIBRARIES: [LibInfo; {}] = [",
        libs.len()
    );
    for lib in libs {
        let _ = writeln!(
            table,
            "    LibInfo {{ soname: {:?}, path: {:?} }},",
            lib.soname,
            lib.path.display().to_string()
        );
    }
    let _ = writeln!(table, "];");
    let _ = writeln!(
        table,
        "/// Trampoline index → (library index, function name)."
    );
    let _ = writeln!(
        table,
        "pub(crate) static SYMBOLS: [(usize, &::core::ffi::CStr); COUNT] = ["
    );

    // The shared slow path. %r11 = trampoline index. On entry %rsp is 8 mod 16 (the
    // caller's return address); after `push %rbp` and 192 bytes it is 16-aligned for the
    // call. It keeps every argument register (and %rax: %al = vector registers used by a
    // variadic call), asks the resolver for the address and jumps there with the
    // caller's stack and return address untouched.
    asm.push_str(
        "    .section .text.citygrid_lazylib_slow,\"ax\",@progbits\n\
         \x20   .globl citygrid_lazylib_slow\n\
         \x20   .hidden citygrid_lazylib_slow\n\
         \x20   .type citygrid_lazylib_slow,@function\n\
         \x20   .p2align 4\n\
         citygrid_lazylib_slow:\n\
         \x20   .cfi_startproc\n\
         \x20   pushq %rbp\n\
         \x20   .cfi_def_cfa_offset 16\n\
         \x20   .cfi_offset %rbp, -16\n\
         \x20   movq %rsp, %rbp\n\
         \x20   .cfi_def_cfa_register %rbp\n\
         \x20   subq $192, %rsp\n\
         \x20   movq %rdi, 0(%rsp)\n\
         \x20   movq %rsi, 8(%rsp)\n\
         \x20   movq %rdx, 16(%rsp)\n\
         \x20   movq %rcx, 24(%rsp)\n\
         \x20   movq %r8, 32(%rsp)\n\
         \x20   movq %r9, 40(%rsp)\n\
         \x20   movq %rax, 48(%rsp)\n\
         \x20   movaps %xmm0, 64(%rsp)\n\
         \x20   movaps %xmm1, 80(%rsp)\n\
         \x20   movaps %xmm2, 96(%rsp)\n\
         \x20   movaps %xmm3, 112(%rsp)\n\
         \x20   movaps %xmm4, 128(%rsp)\n\
         \x20   movaps %xmm5, 144(%rsp)\n\
         \x20   movaps %xmm6, 160(%rsp)\n\
         \x20   movaps %xmm7, 176(%rsp)\n\
         \x20   movq %r11, %rdi\n\
         \x20   call citygrid_lazylib_resolve@PLT\n\
         \x20   movq %rax, %r11\n\
         \x20   movq 0(%rsp), %rdi\n\
         \x20   movq 8(%rsp), %rsi\n\
         \x20   movq 16(%rsp), %rdx\n\
         \x20   movq 24(%rsp), %rcx\n\
         \x20   movq 32(%rsp), %r8\n\
         \x20   movq 40(%rsp), %r9\n\
         \x20   movq 48(%rsp), %rax\n\
         \x20   movaps 64(%rsp), %xmm0\n\
         \x20   movaps 80(%rsp), %xmm1\n\
         \x20   movaps 96(%rsp), %xmm2\n\
         \x20   movaps 112(%rsp), %xmm3\n\
         \x20   movaps 128(%rsp), %xmm4\n\
         \x20   movaps 144(%rsp), %xmm5\n\
         \x20   movaps 160(%rsp), %xmm6\n\
         \x20   movaps 176(%rsp), %xmm7\n\
         \x20   leave\n\
         \x20   .cfi_def_cfa %rsp, 8\n\
         \x20   jmpq *%r11\n\
         \x20   .cfi_endproc\n\
         \x20   .size citygrid_lazylib_slow, .-citygrid_lazylib_slow\n",
    );

    // One trampoline per function, each in its own section so that --gc-sections drops
    // those the program never calls. Fast path: one load, one test, one indirect jump.
    let mut index = 0usize;
    for (lib_index, lib) in libs.iter().enumerate() {
        for name in &lib.functions {
            let offset = index * 8;
            let _ = write!(
                asm,
                "    .section .text.citygrid_lazylib.{name},\"ax\",@progbits\n\
                 \x20   .globl {name}\n\
                 \x20   .hidden {name}\n\
                 \x20   .type {name},@function\n\
                 \x20   .p2align 4\n\
                 {name}:\n\
                 \x20   movq citygrid_lazylib_slots+{offset}(%rip), %r11\n\
                 \x20   testq %r11, %r11\n\
                 \x20   jz .Lcitygrid_lazylib_{index}\n\
                 \x20   jmpq *%r11\n\
                 .Lcitygrid_lazylib_{index}:\n\
                 \x20   movl ${index}, %r11d\n\
                 \x20   jmp citygrid_lazylib_slow\n\
                 \x20   .size {name}, .-{name}\n"
            );
            let _ = writeln!(table, "    ({lib_index}, c{name:?}),");
            index += 1;
        }
    }
    asm.push_str("    .text\n");
    let _ = writeln!(table, "];");
    (asm, table)
}
