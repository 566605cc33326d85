//! `minikms-enclave`: launched by `kms-host`, never by hand. Its standard
//! input and output are the boundary channel (see `minikms-edl`).

/// mimalloc rather than glibc's malloc: requests allocate and free many
/// small blocks across the runtime's threads (bench/NOTES.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    minikms_enclave::main()
}
