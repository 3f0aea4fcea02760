//! Which kernel hashes the lanes, chosen at run time.
//!
//! One server binary runs on CPUs with and without AVX-512 (and AVX2), so the SIMD kernels are
//! compiled with `#[target_feature]` and picked by `is_x86_feature_detected!` when the program
//! runs, not by `-C target-cpu` when it is built. A [`Path`] is only a name: every entry point
//! that runs a kernel checks [`Path::is_available`] first and panics otherwise, so a `Path`
//! built by hand for a CPU that lacks the feature can never execute an unsupported instruction.
//!
//! On wasm there is no run-time detection inside a module (a module with SIMD instructions
//! does not even validate on an engine without SIMD), so `Simd128` exists only in a build made
//! with `-C target-feature=+simd128`; the page picks which of the two builds to load.

use core::fmt;

/// A way to compress MD5 blocks: one stream at a time, or several streams in SIMD lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Path {
    /// One stream at a time; runs everywhere.
    Scalar,
    /// 8 streams per `__m256i` (x86_64 with AVX2).
    Avx2,
    /// 16 streams per `__m512i` (x86_64 with AVX-512F); batches of at most 8 streams use the
    /// AVX2 kernel, which is cheaper per round.
    Avx512,
    /// 4 streams per `v128` (wasm32 built with `+simd128`).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd128,
}

/// [`Path::from_name`] was given a name that is unknown or not runnable on this CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnavailablePath {
    name: String,
    known: bool,
}

impl fmt::Display for UnavailablePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let available: Vec<&str> = Path::available().iter().map(|p| p.name()).collect();
        if self.known {
            write!(f, "MD5 path {:?} is not supported by this CPU", self.name)?;
        } else {
            write!(f, "unknown MD5 path {:?}", self.name)?;
        }
        write!(f, " (available here: {})", available.join(", "))
    }
}

impl std::error::Error for UnavailablePath {}

impl Path {
    /// Every path this crate knows of on this target, best last.
    const ALL: &'static [Path] = &[
        Path::Scalar,
        Path::Avx2,
        Path::Avx512,
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Path::Simd128,
    ];

    /// The widest path this machine runs.
    pub fn detect() -> Path {
        *Path::available()
            .last()
            .expect("the scalar path always runs")
    }

    /// Every path this machine runs, scalar first, widest last (tests force each of them).
    pub fn available() -> Vec<Path> {
        Path::ALL
            .iter()
            .copied()
            .filter(|p| p.is_available())
            .collect()
    }

    /// Whether this machine can run this path.
    pub fn is_available(self) -> bool {
        match self {
            Path::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            Path::Avx2 | Path::Avx512 => false,
            // The variant only exists in a simd128 build, which only loads where SIMD validates.
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Path::Simd128 => true,
        }
    }

    /// How many streams one kernel call compresses side by side.
    pub fn lanes(self) -> usize {
        match self {
            Path::Scalar => 1,
            Path::Avx2 => 8,
            Path::Avx512 => 16,
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Path::Simd128 => 4,
        }
    }

    /// The path's name, as [`Path::from_name`] accepts it.
    pub fn name(self) -> &'static str {
        match self {
            Path::Scalar => "scalar",
            Path::Avx2 => "avx2",
            Path::Avx512 => "avx512",
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Path::Simd128 => "simd128",
        }
    }

    /// The path called `name` (`"scalar"`, `"avx2"`, `"avx512"`, `"simd128"`), if this machine
    /// runs it: an error names the paths that do.
    pub fn from_name(name: &str) -> Result<Path, UnavailablePath> {
        let Some(path) = Path::ALL.iter().copied().find(|p| p.name() == name) else {
            return Err(UnavailablePath {
                name: name.to_owned(),
                known: false,
            });
        };
        if path.is_available() {
            Ok(path)
        } else {
            Err(UnavailablePath {
                name: name.to_owned(),
                known: true,
            })
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
