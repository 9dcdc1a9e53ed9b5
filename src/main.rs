//! The `hocvuso` binary: parse the command line and hand over to the library.

/// mimalloc instead of glibc's malloc: a push allocates and frees hundreds of thousands of
/// small values (rows, strings, JSON), and glibc's arenas spent about a sixth of its CPU
/// time on them (docs/DECISIONS.md, "Operations").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(hocvuso::cli::run());
}
