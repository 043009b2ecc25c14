//! C2PA Content Credentials as `kinema` embeds them: signed with the committed test chain
//! (tests/fixtures/c2pa, made by its gen.sh), read back with the c2pa Reader, and validated
//! against the test root as trust anchor.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use c2pa::ValidationState;
use kinema_host::credentials::{
    read_bytes, sign_bytes, Claim, SigningKey, CREATED, GENERATION_LABEL, TRAINED_ALGORITHMIC_MEDIA,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/c2pa").join(name)
}

fn test_key() -> SigningKey {
    SigningKey::load(&fixture("chain.pem"), &fixture("signer.key")).unwrap()
}

fn trust_anchor() -> String {
    std::fs::read_to_string(fixture("ca.pem")).unwrap()
}

fn claim() -> Claim {
    Claim {
        model: "Kinema-tiny".into(),
        model_hash: "00000000deadbeef".into(),
        model_id: "0badc0de".into(),
        seed: 42,
        prompt_hash: "xxh3-128:0123".into(),
        shot_key: "ab".repeat(16),
        kinema_version: "0.1.0".into(),
    }
}

fn encoded(format: image::ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    let picture = image::RgbImage::from_fn(16, 8, |x, y| image::Rgb([x as u8 * 16, y as u8 * 32, 128]));
    image::DynamicImage::ImageRgb8(picture).write_to(&mut Cursor::new(&mut bytes), format).unwrap();
    bytes
}

#[test]
fn a_signed_frame_states_the_action_source_type_model_and_seed_and_validates() {
    let key = test_key();
    for (ext, format) in [("png", image::ImageFormat::Png), ("jpg", image::ImageFormat::Jpeg)] {
        let plain = encoded(format);
        let signed = sign_bytes(&plain, ext, &claim(), &key).unwrap();
        // Still the same picture.
        let decoded = |b: &[u8]| image::load_from_memory(b).unwrap().to_rgb8().into_raw();
        assert_eq!(decoded(&signed), decoded(&plain), "{ext}: the pixels are untouched");

        let read = read_bytes(&signed, ext, Some(&trust_anchor())).unwrap();
        assert_eq!(read.state, ValidationState::Trusted, "{ext}: {:?}", read.failures);
        assert!(read.failures.is_empty(), "{ext}: {:?}", read.failures);
        let created: Vec<_> = read.actions.iter().filter(|a| a["action"] == CREATED).collect();
        assert_eq!(created.len(), 1, "{ext}: {:?}", read.actions);
        let action = created[0];
        assert_eq!(action["digitalSourceType"], TRAINED_ALGORITHMIC_MEDIA);
        assert_eq!(action["parameters"]["com.kinema.model"], "Kinema-tiny");
        assert_eq!(action["parameters"]["com.kinema.model_hash"], "00000000deadbeef");
        assert_eq!(action["parameters"]["com.kinema.seed"], 42);
        assert_eq!(action["parameters"]["com.kinema.model_id"], "0badc0de");
        let generation = read.generation.unwrap_or_else(|| panic!("{ext}: no {GENERATION_LABEL}"));
        assert_eq!((generation["model"].as_str(), generation["seed"].as_u64()), (Some("Kinema-tiny"), Some(42)));

        // Without the test root the signature still checks out, but nobody vouches for the signer.
        let untrusted = read_bytes(&signed, ext, None).unwrap();
        assert_ne!(untrusted.state, ValidationState::Trusted, "{ext}");
        assert_ne!(untrusted.state, ValidationState::Invalid, "{ext}: {:?}", untrusted.failures);

        // A changed byte of the picture breaks the hard binding.
        let mut edited = signed.clone();
        if ext == "png" {
            // Flip one byte inside the image data chunk.
            let at = edited.windows(4).position(|w| w == b"IDAT").unwrap() + 8;
            edited[at] ^= 0x01;
        } else {
            let last = edited.len() - 3;
            edited[last] ^= 0x01;
        }
        let state = read_bytes(&edited, ext, Some(&trust_anchor())).map(|r| r.state);
        assert!(matches!(state, Err(_) | Ok(ValidationState::Invalid)), "{ext}: an edited frame validated");
    }
}

#[test]
fn keys_are_configured_as_a_pair_and_checked_before_use() {
    assert!(SigningKey::configured(None, None).is_ok(), "no flags: the environment decides");
    let half = SigningKey::configured(Some(&fixture("chain.pem")), None).unwrap_err().to_string();
    assert!(half.contains("go together"), "{half}");
    let both = SigningKey::configured(Some(&fixture("chain.pem")), Some(&fixture("signer.key"))).unwrap().unwrap();
    assert_eq!(both.alg(), c2pa::SigningAlg::Es256);
    assert!(both.source.contains("--c2pa-cert"), "{}", both.source);
    // The CA's certificate is not the signer's: no algorithm makes it sign.
    let wrong = SigningKey::load(&fixture("ca.pem"), &fixture("signer.key")).unwrap_err().to_string();
    assert!(wrong.contains("do not sign a C2PA manifest"), "{wrong}");
    let missing = SigningKey::load(&fixture("none.pem"), &fixture("signer.key")).unwrap_err();
    assert!(format!("{missing:#}").contains("none.pem"), "{missing:#}");
    // EXR and TIFF cannot carry a manifest here.
    let err = sign_bytes(b"x", "exr", &claim(), &both).unwrap_err().to_string();
    assert!(err.contains("cannot carry"), "{err}");
}
