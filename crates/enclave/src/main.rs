//! `minikms-enclave`: launched by `kms-host`, never by hand. Its standard
//! input and output are the boundary channel (see `minikms-edl`).

fn main() -> std::process::ExitCode {
    minikms_enclave::main()
}
