//! The bundle's own ONNX Runtime: loaded by absolute path from beside the plugin binary, the
//! provider chain falls back to the CPU with reasons, and a real model runs through it.

use kinema_e2e::*;

#[test]
fn the_smoke_model_runs_through_the_bundled_runtime() {
    let bundle = load_bundle();
    let report = bundle.runtime_report(Some(&bundled_smoke_model())).unwrap();
    assert_eq!(report["environment"], "ok", "{report:#}");
    let lib = report["ort_library"].as_str().unwrap();
    assert!(
        lib.starts_with(bundle_path().to_str().unwrap()) && lib.ends_with("Linux-x86-64/libonnxruntime.so.1.31.1"),
        "the runtime must come from inside the bundle, got {lib}"
    );
    let model = &report["model"];
    assert!(model["error"].is_null(), "{model:#}");
    assert_eq!(model["provider"], "CPU", "{model:#}");
    // The CPU wheel has no GPU providers: each was tried and skipped with ONNX Runtime's reason.
    let skipped: Vec<&str> =
        model["skipped"].as_array().unwrap().iter().map(|s| s["provider"].as_str().unwrap()).collect();
    assert_eq!(skipped, ["TensorRT", "CUDA"], "{model:#}");
    for s in model["skipped"].as_array().unwrap() {
        assert!(s["reason"].as_str().is_some_and(|r| r.contains("not enabled in this build")), "{s}");
    }
    let input = model["input"].as_array().unwrap();
    let output = model["output"].as_array().unwrap();
    assert_eq!(input.len(), 48);
    assert_eq!(input.len(), output.len());
    for (x, y) in input.iter().zip(output) {
        let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
        assert!((y - (2.0 * x + 1.0)).abs() < 1e-6, "y = 2x + 1 expected, got x={x} y={y}");
    }
}

#[test]
fn a_bad_model_file_is_an_error_in_the_report_not_a_crash() {
    let bundle = load_bundle();
    let bogus = std::env::temp_dir().join(format!("kinema-not-onnx-{}.onnx", std::process::id()));
    std::fs::write(&bogus, b"this is not a protobuf").unwrap();
    let report = bundle.runtime_report(Some(&bogus)).unwrap();
    let error = report["model"]["error"].as_str().unwrap_or_default();
    assert!(error.contains(bogus.to_str().unwrap()), "the error should name the file: {report:#}");
    let missing = bundle.runtime_report(Some(std::path::Path::new("/nonexistent/model.onnx"))).unwrap();
    assert!(missing["model"]["error"].as_str().is_some_and(|e| e.contains("/nonexistent/model.onnx")), "{missing:#}");
    // The runtime still works afterwards.
    let ok = bundle.runtime_report(Some(&bundled_smoke_model())).unwrap();
    assert!(ok["model"]["error"].is_null(), "{ok:#}");
    std::fs::remove_file(&bogus).unwrap();
}

#[test]
fn kinema_doctor_runs_the_shipped_model() {
    let out =
        std::process::Command::new(kinema_exe()).arg("--bundle").arg(bundle_path()).arg("doctor").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("environment:  ok"), "{stdout}");
    assert!(stdout.contains("ran on:     CPU"), "{stdout}");
    assert!(stdout.contains("y 1.000, 1.020, 1.040, 1.060"), "{stdout}");
}
