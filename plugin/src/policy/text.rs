//! Prompt text reduced to what the model reads, so a term list can match it.
//!
//! A disguised word is still the word to the model: its tokenizer applies NFKC (full-width,
//! math-bold and circled letters become plain ones) and the text encoder reads through
//! look-alike letters, invisible characters, separators and leetspeak. So both the prompt and the
//! policy's terms go through the same steps, in this order:
//!
//! 1. the model's own tokenizer normaliser, when the model is known ([`ModelNormalizer`]);
//! 2. NFKC, then case folding (lowercase, `ß` → `ss`, final sigma);
//! 3. zero-width characters, soft hyphens, bidi controls, variation selectors and every combining
//!    mark are removed (accents and "zalgo" strikes alike);
//! 4. for the leetspeak readings only, `4 @ 3 1 ! | 0 5 $ 7 +` and friends become letters inside
//!    anything that has a letter (so `1984` stays a number);
//! 5. each non-ASCII character becomes its UTS #39 confusable skeleton, then a small table maps
//!    the Cyrillic, Greek and Armenian look-alikes the skeleton leaves alone (`п` → `n`);
//! 6. the text is cut into words at everything that is not a letter or digit.
//!
//! Separated letters (`n.u.d.e`, `n u d e`) and repeated letters (`nuuude`) are left to the
//! matcher, which sees the words; this module only reads.

use std::borrow::Cow;

use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::{NormalizedString, Normalizer};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// The normaliser of a model's `tokenizer.json`: the text the policy checks is the text the
/// model's tokenizer makes of the prompt, not the prompt as typed.
#[derive(Clone)]
pub struct ModelNormalizer(NormalizerWrapper);

impl std::fmt::Debug for ModelNormalizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ModelNormalizer")
    }
}

impl ModelNormalizer {
    /// `None` when the tokenizer has no normaliser (the prompt reaches it unchanged).
    pub fn from_tokenizer(tokenizer: &tokenizers::Tokenizer) -> Option<Self> {
        tokenizer.get_normalizer().cloned().map(ModelNormalizer)
    }

    pub fn new(normalizer: NormalizerWrapper) -> Self {
        ModelNormalizer(normalizer)
    }

    /// The prompt as the model's tokenizer normalises it. A normaliser that fails gives the text
    /// back unchanged: the policy's own steps still run on it.
    pub fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut s = NormalizedString::from(text);
        match self.0.normalize(&mut s) {
            Ok(()) => Cow::Owned(s.get().to_string()),
            Err(_) => Cow::Borrowed(text),
        }
    }
}

/// How a reading treats digits and symbols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// As written: symbols separate words, digits are digits.
    Plain,
    /// Leetspeak, with `1` and `!` read as `i` (`k1ll`).
    LeetI,
    /// Leetspeak, with `1` and `!` read as `l` (`b1ood`).
    LeetL,
}

impl Reading {
    pub const ALL: [Reading; 3] = [Reading::Plain, Reading::LeetI, Reading::LeetL];
}

/// The words of `text` under `reading` (steps 2–6 of the module doc; step 1 is the caller's).
pub fn words(text: &str, reading: Reading) -> Vec<String> {
    let folded = fold(text);
    let read = match reading {
        Reading::Plain => folded,
        Reading::LeetI => unleet(&folded, 'i'),
        Reading::LeetL => unleet(&folded, 'l'),
    };
    let mut words = Vec::new();
    let mut word = String::new();
    for c in read.chars() {
        if c.is_alphanumeric() {
            word.push(look_alike(c));
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Steps 2, 3 and 5: NFKC, case folding, invisible characters and marks removed, skeleton.
pub fn fold(text: &str) -> String {
    let lower: String = text.chars().map(enclosed).nfkc().flat_map(char::to_lowercase).collect();
    let mut out = String::with_capacity(lower.len());
    // NFD exposes the marks to remove; NFC afterwards recomposes what has no mark (Hangul).
    let bare: String = lower.nfd().filter(|&c| !is_combining_mark(c) && !is_invisible(c)).nfc().collect();
    for c in bare.chars() {
        // Final sigma is sigma (char-wise lowercase cannot know a word ends).
        let c = if c == 'ς' { 'σ' } else { c };
        match c {
            'ß' => out.push_str("ss"),
            'ſ' => out.push('s'),
            c if c.is_ascii() => out.push(c),
            // The skeleton draws kana as kanji (`エロ` as `工口`) and Hangul as look-alike
            // jamo: CJK and Hangul stay as written.
            c if is_unspaced(c) || matches!(c, '\u{AC00}'..='\u{D7AF}') => out.push(c),
            // A prototype may be uppercase ('0' → 'O') or itself carry marks: fold it again.
            c => out.extend(
                unicode_security::skeleton(c.encode_utf8(&mut [0; 4]))
                    .filter(|&c| !is_combining_mark(c))
                    .flat_map(char::to_lowercase),
            ),
        }
    }
    out
}

/// The letter a negative squared or negative circled capital (`🅽`, `🅝`) shows; NFKC keeps them.
fn enclosed(c: char) -> char {
    match c {
        '\u{1F150}'..='\u{1F169}' => char::from(b'a' + (c as u32 - 0x1F150) as u8),
        '\u{1F170}'..='\u{1F189}' => char::from(b'a' + (c as u32 - 0x1F170) as u8),
        c => c,
    }
}

/// Characters that show nothing (or only join or steer other characters) and so can hide
/// inside a word: format controls, fillers, variation selectors, the Arabic tatweel.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{0640}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Leetspeak read as letters inside every whitespace-separated chunk that has a letter.
fn unleet(text: &str, one: char) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, chunk) in text.split(char::is_whitespace).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if !chunk.chars().any(char::is_alphabetic) {
            out.push_str(chunk);
            continue;
        }
        out.extend(chunk.chars().map(|c| match c {
            '4' | '@' | '^' => 'a',
            '8' => 'b',
            '(' | '<' | '¢' => 'c',
            '3' | '€' | '£' => 'e',
            '6' | '9' => 'g',
            '#' => 'h',
            '1' | '!' | '|' => one,
            '0' => 'o',
            '5' | '$' | '§' => 's',
            '7' | '+' => 't',
            '2' => 'z',
            c => c,
        }));
    }
    out
}

/// The Latin letter a Cyrillic, Greek or Armenian letter is drawn like, where the confusable
/// skeleton keeps it in its own script (it maps `а` to `a`, but not `п` to `n`), and the plain
/// letter for the small capitals and kra that the skeleton maps Greek letters to (`τ` → `ᴛ`).
fn look_alike(c: char) -> char {
    match c {
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' | 'ꞓ' => 'e',
        'ɢ' => 'g',
        'ʜ' => 'h',
        'ɪ' => 'i',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ʟ' => 'l',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        'в' | 'β' => 'b',
        'д' => 'd',
        'ε' | 'ɛ' | 'є' | 'ё' => 'e',
        'г' => 'r',
        'н' | 'һ' | 'հ' => 'h',
        'ι' | 'ї' | 'і' => 'i',
        'к' | 'κ' | 'ĸ' => 'k',
        'м' => 'm',
        'п' | 'η' | 'ո' | 'π' => 'n',
        'ο' | 'օ' => 'o',
        'ρ' | 'р' => 'p',
        'т' | 'τ' => 't',
        'υ' | 'μ' | 'ս' | 'и' => 'u',
        'ν' => 'v',
        'ш' | 'ω' | 'щ' => 'w',
        'χ' | 'ж' => 'x',
        'у' | 'γ' | 'ү' => 'y',
        // Arabic spellings that vary in use: ta marbuta as ha, alif maqsura as ya, hamza seats.
        'ة' => 'ه',
        'ى' => 'ي',
        'أ' | 'إ' | 'آ' | 'ٱ' => 'ا',
        c => c,
    }
}

/// Scripts written without spaces between words: their terms match anywhere in the text.
pub fn is_unspaced(c: char) -> bool {
    matches!(c,
        '\u{0E00}'..='\u{0EFF}' // Thai, Lao
        | '\u{1000}'..='\u{109F}' // Myanmar
        | '\u{1780}'..='\u{17FF}' // Khmer
        | '\u{3040}'..='\u{30FF}' // Hiragana, Katakana
        | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' // Han
        | '\u{20000}'..='\u{2FA1F}'
        | '\u{31F0}'..='\u{31FF}' | '\u{FF66}'..='\u{FF9F}')
}

/// Katakana (with the long-vowel mark and half-width forms).
pub fn is_katakana(c: char) -> bool {
    matches!(c, '\u{30A1}'..='\u{30FF}' | '\u{31F0}'..='\u{31FF}' | '\u{FF66}'..='\u{FF9F}')
}

/// Runs of one letter collapsed to one (`nuuude` → `nude`), for the matcher's second look.
pub fn squeeze(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut last = None;
    for c in word.chars() {
        if Some(c) != last {
            out.push(c);
        }
        last = Some(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> String {
        words(text, Reading::Plain).join(" ")
    }

    #[test]
    fn disguised_letters_read_as_plain_ones() {
        for disguised in [
            "ｎｕｄｅ",
            "𝐧𝐮𝐝𝐞",
            "𝕟𝕦𝕕𝕖",
            "ⓝⓤⓓⓔ",
            "NUDE",
            "n\u{200d}u\u{200d}d\u{200d}e",
            "n\u{200b}u\u{00ad}d\u{feff}e",
            "n\u{336}u\u{336}d\u{336}e\u{336}",
            "ńúdé",
            "пսԁе",
            "ηυԁε",
            "ηυdε",
            "ɴᴜᴅᴇ",
            "🅽🆄🅳🅴",
            "🅝🅤🅓🅔",
        ] {
            assert_eq!(plain(disguised), "nude", "{disguised:?}");
        }
        assert_eq!(plain("Straße ΣΟΦΟΣ"), plain("strasse σοφος"));
        assert_eq!(plain("  Hello,   WORLD!! É-É  "), "hello world e e");
    }

    #[test]
    fn leetspeak_has_its_own_readings() {
        assert_eq!(words("k1ll sw4stika n@k3d", Reading::LeetI), ["kill", "swastika", "naked"]);
        assert_eq!(words("b1ood", Reading::LeetL), ["blood"]);
        assert_eq!(words("k1ll", Reading::Plain), ["k1ll"]);
        // Numbers alone stay numbers; the plain reading keeps "gore!" as "gore".
        assert_eq!(words("1984 gore!", Reading::LeetI), ["1984", "gorei"]);
        assert_eq!(words("1984 gore!", Reading::Plain), ["1984", "gore"]);
    }

    #[test]
    fn other_scripts_keep_their_words() {
        assert_eq!(plain("Голая женщина"), plain("голая ЖЕНЩИНА"));
        assert_eq!(plain("裸体 女人").split(' ').count(), 2);
        assert_eq!(plain("नग्न"), plain("न\u{200d}ग्न"));
        assert!(is_unspaced('裸') && is_unspaced('ヌ') && !is_unspaced('n'));
        assert_eq!(squeeze("nuuudeee"), "nude");
    }

    #[test]
    fn the_model_normaliser_runs_first() {
        let replace: NormalizerWrapper =
            serde_json::from_str(r#"{"type": "Replace", "pattern": {"String": "🍑"}, "content": "nude"}"#).unwrap();
        let m = ModelNormalizer::new(replace);
        assert_eq!(m.apply("a 🍑 figure"), "a nude figure");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ltx/fixtures/t5_tokenizer");
        let t5 = crate::diffusion::tokenize::open(&dir.join("tokenizer.json")).unwrap();
        let m = ModelNormalizer::from_tokenizer(&t5).expect("T5 has a normaliser");
        assert_eq!(plain(&m.apply("ａ ｎｕｄｅ")), "a nude");
    }

    #[test]
    fn hostile_text_never_panics() {
        let weird = [
            "\u{0}\u{1}\u{7f}\u{fffd}\u{10ffff}",
            "\u{e0001}\u{e0020}\u{e007f}",
            "a\u{301}\u{301}\u{301}\u{301}\u{301}\u{301}\u{301}\u{301}",
            "\u{202e}edun\u{202c}",
            "﷽﷽﷽ ǅǈǋ ﬀﬁﬂ ㍱ ㋿ ℻",
            "\u{1f469}\u{200d}\u{2764}\u{fe0f}\u{200d}\u{1f468}",
            "\u{d7a3}\u{1100}\u{1161}\u{11a8}",
            "1!|@$ ... ---",
        ];
        for text in weird {
            for r in Reading::ALL {
                let _ = words(text, r);
            }
        }
    }
}
