//! Prompts to token ids as the diffusers pipelines make them (transformers' T5 tokenizer called with
//! `padding="max_length"`, `truncation=True`): ids with the end-of-sequence id, cut to the length
//! and padded right; the mask marks the real ids.

use std::path::Path;

use super::limits::MAX_TOKENS;
use super::manifest::PromptClean;
use crate::engine::EngineError;

/// A prompt as the pipeline cleans it before tokenizing (the manifest's `tokenizer.clean`).
pub fn clean(text: &str, how: PromptClean) -> std::borrow::Cow<'_, str> {
    match how {
        PromptClean::None => text.into(),
        PromptClean::Whitespace => {
            // Wan's `prompt_clean`: `html.unescape` twice, then `re.sub(r"\s+", " ", t).strip()`.
            let once = html_escape::decode_html_entities(text);
            let twice = html_escape::decode_html_entities(&once);
            twice.split_whitespace().collect::<Vec<_>>().join(" ").into()
        }
    }
}

/// Loads `tokenizer.json` with its own padding and truncation off: the manifest says how prompts
/// are padded and cut, and a file saved after use often still carries its last call's settings.
pub fn open(path: &Path) -> Result<tokenizers::Tokenizer, String> {
    let mut tokenizer = tokenizers::Tokenizer::from_file(path).map_err(|e| e.to_string())?;
    tokenizer.with_padding(None).with_truncation(None).map_err(|e| e.to_string())?;
    Ok(tokenizer)
}

/// Token ids and mask, padded right to `max_len` with `pad_id`; a too-long prompt keeps its first
/// `max_len − 1` ids and the end-of-sequence id.
pub fn ids(
    tokenizer: &tokenizers::Tokenizer,
    text: &str,
    max_len: usize,
    pad_id: i64,
) -> Result<(Vec<i64>, Vec<i64>), EngineError> {
    if !(1..=MAX_TOKENS).contains(&max_len) {
        return Err(EngineError::Input(format!("a prompt length of {max_len} tokens is not 1 to {MAX_TOKENS}")));
    }
    let enc = tokenizer
        .encode(text, true)
        .map_err(|e| EngineError::Input(format!("the tokenizer failed on the prompt: {e}")))?;
    let mut ids: Vec<i64> = enc.get_ids().iter().map(|&i| i64::from(i)).collect();
    if ids.len() > max_len {
        let eos = *ids.last().unwrap_or(&0);
        ids.truncate(max_len.saturating_sub(1));
        ids.push(eos);
    }
    let mut mask = vec![1i64; ids.len()];
    ids.resize(max_len, pad_id);
    mask.resize(max_len, 0);
    Ok((ids, mask))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wan_cleaning_unescapes_twice_and_collapses_whitespace() {
        let cleaned = clean("  a &amp;amp; b\t\n c &lt;d&gt;  ", PromptClean::Whitespace);
        assert_eq!(cleaned, "a & b c <d>");
        assert_eq!(clean("  as typed  ", PromptClean::None), "  as typed  ");
    }
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Fixture {
        max_length: usize,
        pad_id: i64,
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        prompt: String,
        ids: Vec<i64>,
    }

    /// 1000 prompts (plain, past 128 tokens, empty, Unicode, odd whitespace, special-token text)
    /// through a SentencePiece T5 tokenizer converted by transformers, as a user's LTX-Video folder
    /// has it; ids recorded from transformers' T5 tokenizer by models/ltx/tokenizer_check.py.
    #[test]
    fn t5_tokenizer_matches_transformers() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ltx/fixtures/t5_tokenizer");
        let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
        let tokenizer = open(&dir.join("tokenizer.json")).unwrap();
        assert_eq!(fixture.cases.len(), 1000);
        let mut truncated = 0;
        for case in &fixture.cases {
            let (ids, mask) = ids(&tokenizer, &case.prompt, fixture.max_length, fixture.pad_id).unwrap();
            let n = case.ids.len();
            truncated += usize::from(n == fixture.max_length);
            assert_eq!(&ids[..n], &case.ids[..], "prompt {:?}", case.prompt);
            assert!(ids[n..].iter().all(|&i| i == fixture.pad_id), "prompt {:?}", case.prompt);
            assert_eq!(mask.iter().sum::<i64>(), n as i64, "prompt {:?}", case.prompt);
        }
        assert!(truncated > 100, "the fixture must exercise truncation ({truncated} cases)");
    }
}
