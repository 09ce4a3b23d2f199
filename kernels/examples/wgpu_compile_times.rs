//! Times the compilation of each wgpu kernel on the first adapter, a development aid:
//! `cargo run --release -p fornax-kernels --example wgpu_compile_times [int32] [NAME…]`.
use std::time::Instant;
fn main() {
    let mac = if std::env::args().any(|a| a == "int32") {
        fornax_kernels::wgpu::Mac::Int32
    } else {
        fornax_kernels::wgpu::Mac::Int64
    };
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| a != "int32").collect();
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::PRIMARY;
    let instance = wgpu::Instance::new(desc);
    let adapter =
        pollster::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY)).remove(0);
    let (device, _q) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_features: wgpu::Features::SHADER_INT64,
        required_limits: adapter.limits(),
        ..Default::default()
    }))
    .unwrap();
    for k in fornax_kernels::wgpu::source::kernels(mac) {
        if !filter.is_empty() && !filter.iter().any(|f| k.name.contains(f.as_str())) {
            continue;
        }
        let t = Instant::now();
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: None,
            source: wgpu::ShaderSource::Wgsl(k.wgsl.into()),
        });
        let _p = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: None,
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        println!("{:32} {:>8.2?}", k.name, t.elapsed());
    }
}
