//! Prints the CUDA program exactly as NVRTC compiles it at run time, for compiling it by hand:
//! `cargo run -p fornax-kernels --example cuda_program > fornax.cu && nvcc -arch=sm_90 -cubin fornax.cu`.

fn main() {
    print!("{}", fornax_kernels::cuda::source::program());
}
