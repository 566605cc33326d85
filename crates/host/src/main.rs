//! `kms-host`: the untrusted host. See `minikms_host` for the layout.

fn main() -> std::process::ExitCode {
    minikms_host::cli::main()
}
