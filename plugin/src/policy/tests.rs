use std::time::Duration;

use super::*;

fn default_policy() -> Policy {
    Policy::builtin().expect("the shipped policy.json is valid")
}

fn blocked(p: &Policy, prompt: &str) -> Blocked {
    p.check(prompt).expect_err(&format!("{prompt:?} should be blocked"))
}

fn write(dir: &Path, name: &str, json: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, json).unwrap();
    path
}

fn load_err(json: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "policy.json", json);
    let err = Policy::load(&path).expect_err("should be rejected").to_string();
    assert!(err.contains(&path.display().to_string()), "the error names the file: {err}");
    err
}

#[test]
fn default_policy_has_the_required_categories() {
    let p = default_policy();
    let names: Vec<&str> = p.category_names().collect();
    for required in ["graphic violence", "sexual content", "hate", "real-person likeness"] {
        assert!(names.contains(&required), "{required} missing from {names:?}");
    }
    assert_eq!(p.origin(), "built-in default");
    // The shipped file stays short: each term once, in the ~25 languages it covers.
    for c in &p.categories {
        assert!(c.terms.len() <= 260, "{}: {} terms", c.name, c.terms.len());
    }
}

#[test]
fn each_category_blocks_an_example_and_names_it() {
    let p = default_policy();
    let cases = [
        ("a close-up of GORE! in a horror film", "graphic violence", "gore"),
        ("the knight is Decapitated on screen", "graphic violence", "decapitated"),
        ("a nude figure on a beach", "sexual content", "nude"),
        ("an NSFW scene", "sexual content", "nsfw"),
        ("a rally with white-power banners", "hate", "white power"),
        ("a poster saying kill all the immigrants", "hate", "kill all the immigrants"),
        ("a deepfake of a news anchor", "real-person likeness", "deepfake"),
        ("Face-swap me onto a movie star", "real-person likeness", "face swap"),
        ("realistic video of the President giving a speech", "real-person likeness", "video of the president"),
    ];
    for (prompt, category, matched) in cases {
        let b = blocked(&p, prompt);
        assert_eq!((b.category.as_str(), b.matched.as_str()), (category, matched), "{prompt:?}");
        let text = b.to_string();
        assert_eq!(
            text,
            format!(
                "Prompt blocked by the content policy (category: {category}, matched \"{matched}\"). Edit the prompt, or replace the policy file (KINEMA_POLICY)."
            )
        );
    }
}

#[test]
fn benign_prompts_pass() {
    let p = default_policy();
    for prompt in [
        "a red circle moving left on a dark blue background",
        "a car driving through a city at night",
        "slow dolly shot of a forest at dawn, volumetric light, 35mm film grain",
        "a chef chopping vegetables in a busy kitchen",
        "a cat playing with a ball of yarn",
        "Henryk Górecki symphony playing in a concert hall",
        "",
        "   ",
    ] {
        assert_eq!(p.check(prompt), Ok(()), "{prompt:?}");
    }
    assert_eq!(p.check_pair("a calm lake", "blurry, low quality, watermark", None), Ok(()));
}

#[test]
fn terms_match_whole_words_after_normalising() {
    let p = Policy::from_json(
        r#"{"version": 1, "categories": [{"name": "test", "terms": ["gore", "snuff film", "Straße"]}]}"#,
        "inline",
    )
    .unwrap();
    for hit in [
        "gore",
        "GORE",
        "gore!",
        "(gore)",
        "so much gore.",
        "Gore-fest",
        "snuff   film",
        "SNUFF-FILM",
        "STRASSE straße",
    ] {
        assert!(p.check(hit).is_err(), "{hit:?} should match");
    }
    for miss in ["gorecki", "Górecki", "gored", "agore", "snuff", "film snuff", "snufffilm", "strass"] {
        assert_eq!(p.check(miss), Ok(()), "{miss:?} should not match");
    }
}

#[test]
fn a_negative_prompt_steers_away_unless_it_inverts_the_prompt() {
    let p = default_policy();
    // Listing what to avoid is what a negative prompt is for.
    assert_eq!(p.check_pair("a woman walking on a beach", "nsfw, nude, gore, blurry", None), Ok(()));
    assert_eq!(p.check_pair("a quiet street", "gore, swastika, deepfake", None), Ok(()));
    // Taking a person's clothes away through the negative prompt is asking for nudity.
    let b = p.check_pair("a woman standing on a beach", "clothes, dress, shirt", None).unwrap_err();
    assert_eq!(b.category, "sexual content");
    assert_eq!(b.matched, "woman without clothes (negative prompt)");
    // Without a subject, the same negative prompt is only a wardrobe note.
    assert_eq!(p.check_pair("an empty beach at dawn", "clothes, towels", None), Ok(()));
}

#[test]
fn ordinary_uses_of_listed_words_are_allowed_and_only_those() {
    let p = default_policy();
    for prompt in [
        "nude lipstick swatches",
        "seen with the naked eye",
        "a can of paint stripper",
        "a bottomless brunch",
        "a genocide memorial at dusk",
        "a photo of the king penguin",
        // Terms in one language must not catch ordinary words of another, nor inside a word of
        // an unspaced script (a close-up, legal counsel, peeled tomatoes, bare rock).
        "女優のクローズアップ",
        "법률 고문 사무실",
        "tomates pelados en un plato",
        "裸露的岩石",
    ] {
        assert_eq!(p.check(prompt), Ok(()), "{prompt:?}");
    }
    assert_eq!(blocked(&p, "nude lipstick on a nude model").category, "sexual content");
    assert_eq!(blocked(&p, "the naked eye sees a naked man").category, "sexual content");
}

#[test]
fn disguised_and_translated_terms_are_blocked() {
    let p = default_policy();
    for (prompt, category) in [
        ("a ｎｕｄｅ woman", "sexual content"),
        ("a 𝐧𝐮𝐝𝐞 woman", "sexual content"),
        ("a ⓝⓤⓓⓔ woman", "sexual content"),
        ("a пսԁе woman", "sexual content"),
        ("a n\u{200d}u\u{00ad}de woman", "sexual content"),
        ("a n.u.d.e woman", "sexual content"),
        ("a n u d e woman", "sexual content"),
        ("a nuuude woman", "sexual content"),
        ("a n4k3d woman", "sexual content"),
        ("the nakedness of lovers", "sexual content"),
        ("eine nackte Frau", "sexual content"),
        ("una mujer desnuda", "sexual content"),
        ("голая женщина", "sexual content"),
        ("海滩上的裸体女人", "sexual content"),
        ("the executioner beheads him", "graphic violence"),
        ("villagers massacred", "graphic violence"),
        ("a K.K.K. rally", "hate"),
        ("a sw4stika flag", "hate"),
    ] {
        assert_eq!(blocked(&p, prompt).category, category, "{prompt:?}");
    }
}

#[test]
fn a_version_1_file_still_loads_and_reads_stars_as_punctuation() {
    let p =
        Policy::from_json(r#"{"version": 1, "categories": [{"name": "v", "terms": ["behead*"]}]}"#, "inline").unwrap();
    assert!(p.check("behead").is_err());
    assert_eq!(p.check("beheads"), Ok(()));
    let err =
        Policy::from_json(r#"{"version": 1, "categories": [{"name": "v", "allow": ["x"]}]}"#, "inline").unwrap_err();
    assert!(err.to_string().contains("need version 2"), "{err}");
}

#[test]
fn hostile_prompts_never_panic() {
    let p = default_policy();
    proptest::proptest!(|(prompt in "\\PC{0,80}", negative in "(\\PC|\u{200d}|\u{301}){0,40}")| {
        let _ = p.check_pair(&prompt, &negative, None);
    });
}

#[test]
fn patterns_are_case_insensitive_and_see_both_forms() {
    let p = Policy::from_json(
        r#"{"version": 1, "categories": [{"name": "likeness", "patterns": [
            "(photo|video|footage) of (the )?(president|prime minister|actor|actress|singer|celebrity)\\b",
            "face swap"
        ]}]}"#,
        "inline",
    )
    .unwrap();
    let b = p.check("Old FOOTAGE of the Prime Minister").unwrap_err();
    assert_eq!((b.category.as_str(), b.matched.as_str()), ("likeness", "footage of the prime minister"));
    // Punctuation and extra spaces are handled by the normalised form.
    assert_eq!(p.check("a photo  of, the actor!").unwrap_err().matched, "photo of the actor");
    assert_eq!(p.check("Face-Swap").unwrap_err().matched, "face swap");
    assert_eq!(p.check("a photo of the actors guild sign"), Ok(()), "\\b keeps 'actors' out");
    assert_eq!(p.check("a photo of a sunset"), Ok(()));
}

#[test]
fn bad_files_give_clear_errors() {
    let err = load_err("{ not json");
    assert!(err.contains("is not valid") && err.contains("line 1"), "{err}");

    let err = load_err(r#"{"version": 3, "categories": []}"#);
    assert!(err.contains("has version 3; this Kinema reads versions 1 to 2"), "{err}");
    let err = load_err(r#"{"categories": []}"#);
    assert!(err.contains("has version (missing)"), "{err}");
    let err = load_err(r#"[1, 2]"#);
    assert!(err.contains("top level must be an object"), "{err}");

    let err = load_err(r#"{"version": 1, "categories": [{"name": "ok", "terms": ["a"]}, {"name": "  "}]}"#);
    assert!(err.contains("category 2 has an empty name"), "{err}");

    let err = load_err(r#"{"version": 1, "categories": [{"name": "violence", "patterns": ["(unclosed"]}]}"#);
    assert!(
        err.contains("pattern \"(unclosed\" in category \"violence\" is not a valid regular expression")
            && err.contains("unclosed group"),
        "{err}"
    );
    let err = load_err(r#"{"version": 1, "categories": [{"name": "v", "patterns": ["x?"]}]}"#);
    assert!(err.contains("would match every prompt"), "{err}");

    let err = load_err(r#"{"version": 1, "categories": [{"name": "v", "terms": ["ok", "!!"]}]}"#);
    assert!(err.contains("term \"!!\" in category \"v\" has no letters or digits"), "{err}");
    // A * inside a word is refused in version 2 (where * is a wildcard), and names the term.
    let err = load_err(r#"{"version": 2, "categories": [{"name": "s", "terms": ["nude", "p*rn"]}]}"#);
    assert!(err.contains("term \"p*rn\" in category \"s\" has a * inside a word"), "{err}");
    let err = load_err(r#"{"version": 2, "categories": [{"name": "s", "allow": ["nude p**t"]}]}"#);
    assert!(err.contains("term \"nude p**t\""), "{err}");
    assert!(Policy::from_json(r#"{"version": 2, "categories": [{"name": "s", "terms": ["*porn*", "p*rn"]}]}"#, "x")
        .is_err());
    assert!(Policy::from_json(r#"{"version": 1, "categories": [{"name": "s", "terms": ["p*rn"]}]}"#, "x").is_ok());

    // A misspelt field is an error, not a silently empty list.
    let err = load_err(r#"{"version": 1, "categories": [{"name": "v", "pattern": ["gore"]}]}"#);
    assert!(err.contains("unknown field `pattern`"), "{err}");
    let err = load_err(r#"{"version": 1, "categories": [{"name": "v", "terms": [3]}]}"#);
    assert!(err.contains("invalid type"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let err = Policy::load(&missing).unwrap_err();
    assert!(matches!(err, PolicyError::Unreadable { .. }));
    assert!(err.to_string().contains("nope.json") && err.to_string().contains("cannot be read"), "{err}");
}

#[test]
fn path_resolution_order() {
    let dir = tempfile::tempdir().unwrap();
    let user = write(dir.path(), "mine.json", BUILTIN_POLICY);
    let contents = dir.path().join("Kinema.ofx.bundle").join("Contents");
    let arch = contents.join("Linux-x86-64");
    fs::create_dir_all(&arch).unwrap();

    // Nothing bundled → compiled-in default.
    assert_eq!(resolve_policy_path(None, Some(arch.clone())).unwrap(), None);
    assert_eq!(resolve_policy_path(Some("".into()), None).unwrap(), None);
    // Bundled file.
    fs::create_dir_all(contents.join("Resources")).unwrap();
    let bundled = write(&contents.join("Resources"), "policy.json", BUILTIN_POLICY);
    assert_eq!(resolve_policy_path(None, Some(arch.clone())).unwrap(), Some(bundled));
    // KINEMA_POLICY wins.
    assert_eq!(resolve_policy_path(Some(user.clone().into()), Some(arch.clone())).unwrap(), Some(user));
    // ...and must exist: no silent fallback to another policy.
    let gone = dir.path().join("gone.json");
    let err = resolve_policy_path(Some(gone.clone().into()), Some(arch)).unwrap_err();
    assert_eq!(err, PolicyError::NotAFile { file: gone.display().to_string() });
    assert!(err.to_string().starts_with("KINEMA_POLICY points to"));
}

#[test]
fn replacing_the_policy_file_changes_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let cache = PolicyCache::new();
    let path = write(dir.path(), "p.json", r#"{"version": 1, "categories": [{"name": "one", "terms": ["apple"]}]}"#);
    let first = cache.get(Some(&path)).unwrap();
    assert_eq!(first.check("an apple").unwrap_err().category, "one");
    assert_eq!(first.check("a pear"), Ok(()));
    assert!(Arc::ptr_eq(&first, &cache.get(Some(&path)).unwrap()), "unchanged file: cached");

    // Same length on purpose, so only the mtime tells the files apart.
    fs::write(&path, r#"{"version": 1, "categories": [{"name": "two", "terms": ["pear!"]}]}"#).unwrap();
    let later = SystemTime::now() + Duration::from_secs(5);
    fs::File::options().write(true).open(&path).unwrap().set_modified(later).unwrap();
    let second = cache.get(Some(&path)).unwrap();
    assert_eq!(second.check("an apple"), Ok(()));
    assert_eq!(second.check("a pear").unwrap_err().category, "two");

    // A broken edit fails closed, and a fix recovers.
    fs::write(&path, r#"{"version": 1, "categories": [{"name": "x", "patterns": ["[oops"]}]}"#).unwrap();
    let err = cache.get(Some(&path)).unwrap_err();
    assert!(matches!(err, PolicyError::InvalidRegex { .. }));
    let refused = PromptRefused::from(err);
    assert!(refused.to_string().starts_with("Prompt refused: the content policy cannot be used (content policy "));
    fs::write(&path, r#"{"version": 1, "categories": []}"#).unwrap();
    assert_eq!(cache.get(Some(&path)).unwrap().check("an apple"), Ok(()));

    // No file → compiled-in default.
    assert_eq!(cache.get(None).unwrap().origin(), "built-in default");
}

#[test]
fn check_prompts_follows_each_outcome_of_the_policy_path() {
    let dir = tempfile::tempdir().unwrap();
    let cache = PolicyCache::new();
    let blocked_in = |r: Result<(), PromptRefused>| match r {
        Err(PromptRefused::Blocked(b)) => b.category,
        other => panic!("expected a blocked prompt, got {other:?}"),
    };
    // No policy file: the compiled-in default.
    assert_eq!(blocked_in(check_prompts_with(&cache, Ok(None), "gore", "", None)), "graphic violence");
    assert_eq!(check_prompts_with(&cache, Ok(None), "a car driving through a city at night", "gore", None), Ok(()));
    // A policy file: its categories, not the default's.
    let path = write(dir.path(), "p.json", r#"{"version": 1, "categories": [{"name": "fruit", "terms": ["apple"]}]}"#);
    assert_eq!(blocked_in(check_prompts_with(&cache, Ok(Some(path.clone())), "an apple", "", None)), "fruit");
    assert_eq!(check_prompts_with(&cache, Ok(Some(path)), "gore", "", None), Ok(()));
    // A broken policy file refuses every prompt, benign ones included, with its reason.
    let broken = write(dir.path(), "broken.json", "{ not json");
    match check_prompts_with(&cache, Ok(Some(broken)), "a calm sea", "", None) {
        Err(PromptRefused::Policy(PolicyError::InvalidJson { file, .. })) => assert!(file.ends_with("broken.json")),
        other => panic!("a broken policy must refuse: {other:?}"),
    }
    // An unusable choice (KINEMA_POLICY naming no file) refuses every prompt with that reason.
    let gone = PolicyError::NotAFile { file: dir.path().join("gone.json").display().to_string() };
    assert_eq!(check_prompts_with(&cache, Err(gone.clone()), "a calm sea", "", None), Err(PromptRefused::Policy(gone)));

    // The real entry point in this test binary, where no bundle holds a policy: the default,
    // unless the caller chose a policy file.
    if std::env::var_os("KINEMA_POLICY").is_none() {
        assert_eq!(policy_path(), Ok(None));
        assert_eq!(active_policy().unwrap().origin(), "built-in default");
        assert!(matches!(check_prompts("gore", "", None), Err(PromptRefused::Blocked(_))));
        assert_eq!(check_prompts("a car driving through a city at night", "", None), Ok(()));
    }
}

#[test]
fn the_model_normaliser_decides_what_is_checked() {
    let p = default_policy();
    // A tokenizer that turns an emoji into a word: the model reads the word, so the policy does.
    let peach: tokenizers::normalizers::NormalizerWrapper =
        serde_json::from_str(r#"{"type": "Replace", "pattern": {"String": "🍑"}, "content": "nude"}"#).unwrap();
    let model = ModelNormalizer::new(peach);
    assert_eq!(p.check_pair("a 🍑 figure on a beach", "", None), Ok(()));
    let b = p.check_pair("a 🍑 figure on a beach", "", Some(&model)).unwrap_err();
    assert_eq!((b.category.as_str(), b.matched.as_str()), ("sexual content", "nude"));
    // T5's own normaliser (NFKC with SentencePiece's extras) sees through full-width letters too.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ltx/fixtures/t5_tokenizer");
    let t5 = crate::diffusion::tokenize::open(&dir.join("tokenizer.json")).unwrap();
    let t5 = ModelNormalizer::from_tokenizer(&t5).unwrap();
    assert_eq!(p.check_pair("ａ ｇｏｒｅ scene", "", Some(&t5)).unwrap_err().matched, "gore");
    assert_eq!(p.check_pair("a calm sea", "nsfw, ｎｕｄｅ", Some(&t5)), Ok(()));
}

#[test]
fn frame_labels_become_review_rules_and_bad_thresholds_are_refused() {
    let p = Policy::from_json(
        r#"{"version": 1, "require_frame_review": true, "categories": [
            {"name": "sexual content", "terms": ["nsfw"], "frame_labels": {"nudity": 0.6, "explicit": 0.3}},
            {"name": "hate", "terms": ["slur"]}]}"#,
        "test",
    )
    .unwrap();
    let review = p.frame_review();
    assert!(review.required);
    let rules: Vec<_> = review.rules.iter().map(|r| (r.category.as_str(), r.label.as_str(), r.threshold)).collect();
    assert_eq!(rules, [("sexual content", "explicit", 0.3), ("sexual content", "nudity", 0.6)]);
    assert!(
        !default_policy().frame_review().required,
        "the bundled policy must not refuse models without a classifier"
    );
    for bad in [r#"{"x": 1.5}"#, r#"{"x": -0.1}"#, r#"{" ": 0.5}"#] {
        let json =
            format!(r#"{{"version": 1, "categories": [{{"name": "c", "terms": ["t"], "frame_labels": {bad}}}]}}"#);
        let err = load_err(&json);
        assert!(err.contains("frame label") && err.contains("\"c\""), "{bad}: {err}");
    }
    // The same fields in a version 2 file, beside allow and negative rules.
    let v2 = Policy::from_json(
        r#"{"version": 2, "require_frame_review": true, "categories": [{"name": "sexual content",
            "terms": ["nude*"], "allow": ["nude lipstick"], "negative": {"subjects": ["woman"], "terms": ["clothes"]},
            "frame_labels": {"nudity": 0.5}}]}"#,
        "test",
    )
    .unwrap();
    assert!(v2.frame_review().required && v2.frame_review().rules.len() == 1);
    assert_eq!(v2.check("nude lipstick"), Ok(()));
}

/// Short Chinese and Japanese terms match anywhere (those scripts have no spaces), so the
/// compounds they sit inside are allowed, and katakana terms stop at more katakana.
#[test]
fn short_cjk_terms_stay_inside_their_own_words() {
    let p = default_policy();
    for ordinary in [
        "一部剧情出色情节紧凑的电影",
        "东京的夜色情调",
        "她的个性爱好是画画",
        "做爱心蛋糕的母亲",
        "血腥玛丽鸡尾酒",
        "エロール・フリンの冒険映画",
        "エロイカ交響曲のコンサート",
        "ゼロから始める料理",
        "ポルノグラフィティのライブ",
        "裸足で砂浜を歩く",
        "목을 베개에 기대고 자는 고양이",
        "누드 톤 립스틱",
        "ตัดหัวหอมในครัว",
        "ตัดคอเสื้อใหม่",
    ] {
        assert!(p.check(ordinary).is_ok(), "{ordinary}: {:?}", p.check(ordinary));
    }
    for blocked in ["色情电影", "裸体女人", "エロ動画", "エロい写真", "ポルノビデオ", "포로의 목을 베는 장면"]
    {
        assert!(p.check(blocked).is_err(), "{blocked}");
    }
}
