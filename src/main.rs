//! The `hocvuso` binary: parse the command line and hand over to the library.

fn main() {
    std::process::exit(hocvuso::cli::run());
}
