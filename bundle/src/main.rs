//! `kinema-bundle`: builds Kinema.ofx.bundle (and the `kinema` CLI beside it).

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use kinema_bundle::{build, install, Flavour, Options, Profile};

#[derive(Parser)]
#[command(about = "Build Kinema.ofx.bundle: release plugin, ONNX Runtime beside it, icons and models")]
struct Args {
    /// Carry the GPU ONNX Runtime (onnxruntime-gpu, CUDA 13: CUDA and TensorRT providers).
    #[arg(long)]
    gpu: bool,
    /// Build the debug plugin instead (what the end-to-end tests use).
    #[arg(long)]
    debug: bool,
    /// Bundle path (default target/Kinema.ofx.bundle).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also copy the bundle into this OFX plugin folder, e.g. /usr/OFX/Plugins.
    #[arg(long, value_name = "DIR")]
    install: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let options = Options {
        profile: if args.debug { Profile::Debug } else { Profile::Release },
        flavour: if args.gpu { Flavour::Gpu } else { Flavour::Cpu },
        out: args.out,
        with_cli: true,
    };
    let bundle = build(&options)?;
    println!("built {}", bundle.display());
    if let Some(dir) = args.install {
        println!("installed {}", install(&bundle, &dir)?.display());
    }
    Ok(())
}
