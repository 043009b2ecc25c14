//! Terms matched against a prompt's words (see [`super::text`] for how the words are read).
//!
//! A term is one or more words; in a version 2 policy a word may start or end with `*` to stand
//! for any ending or beginning (`behead*` matches `beheads`, `beheading`). A word also matches:
//! - with its repeated letters collapsed, when the collapsed term has three letters or more
//!   (`nuuude` is `nude`, but `kk` is not `kkk`);
//! - spelled out as separate letters (`n.u.d.e`, `n u d e` read as the words `n u d e`).
//!
//! A term in a script written without spaces (Chinese, Japanese, Thai) matches anywhere.

use super::text::{is_katakana, is_unspaced, squeeze};

/// Stands in for text an `allow` phrase covered: no term or pattern can match across it.
const BARRIER: &str = "\u{1}";

/// One word of a term, with its repeated-letter form.
#[derive(Debug, Clone)]
struct Piece {
    text: String,
    squeezed: String,
    /// `*` after the word: any ending.
    open_end: bool,
    /// `*` before the word: any beginning.
    open_start: bool,
}

impl Piece {
    fn new(word: &str, open_start: bool, open_end: bool) -> Piece {
        Piece { text: word.to_string(), squeezed: squeeze(word), open_end, open_start }
    }

    fn fits(&self, word: &str, squeezed: &str) -> bool {
        let fit = |w: &str, t: &str| match (self.open_start, self.open_end) {
            (false, false) => w == t,
            (false, true) => w.starts_with(t),
            (true, false) => w.ends_with(t),
            (true, true) => w.contains(t),
        };
        fit(word, &self.text) || (self.squeezed.chars().count() >= 3 && fit(squeezed, &self.squeezed))
    }
}

#[derive(Debug, Clone)]
enum Shape {
    Words(Vec<Piece>),
    /// Matched as a substring of the text with its word breaks removed. A katakana term must not
    /// run on into more katakana, on a side without `*`.
    Unspaced {
        text: String,
        kana: bool,
        open_start: bool,
        open_end: bool,
    },
}

/// A term, phrase or subject as the policy spells it, ready to match.
#[derive(Debug, Clone)]
pub struct Term {
    /// As the policy spells it (what a refusal reports).
    pub text: String,
    shape: Shape,
}

impl Term {
    /// `None` when the term has no letters or digits. `wildcards` is false for version 1 files,
    /// where `*` was punctuation.
    pub fn new(text: &str, wildcards: bool) -> Option<Term> {
        let mut pieces = Vec::new();
        for chunk in text.split_whitespace() {
            let open_start = wildcards && chunk.starts_with('*');
            let open_end = wildcards && chunk.ends_with('*');
            let words = super::text::words(chunk, super::text::Reading::Plain);
            let last = words.len().saturating_sub(1);
            for (i, w) in words.iter().enumerate() {
                pieces.push(Piece::new(w, open_start && i == 0, open_end && i == last));
            }
        }
        if pieces.is_empty() {
            return None;
        }
        let shape = if text.chars().any(is_unspaced) {
            let text: String = pieces.iter().map(|p| p.text.as_str()).collect();
            let kana = text.chars().all(is_katakana);
            let (open_start, open_end) = (pieces[0].open_start, pieces[pieces.len() - 1].open_end);
            Shape::Unspaced { text, kana, open_start, open_end }
        } else {
            Shape::Words(pieces)
        };
        Some(Term { text: text.trim().to_string(), shape })
    }
}

/// A prompt read one way: its words, their repeated-letter forms and the words run together.
#[derive(Debug, Clone)]
pub struct Text {
    words: Vec<String>,
    squeezed: Vec<String>,
    compact: String,
}

impl Text {
    pub fn new(words: Vec<String>) -> Text {
        let squeezed = words.iter().map(|w| squeeze(w)).collect();
        let compact = words.concat();
        Text { words, squeezed, compact }
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The words joined by single spaces: what patterns are tried on.
    pub fn joined(&self) -> String {
        self.words.join(" ")
    }

    /// [`Text::joined`] with each run of three or more one-letter words run together into one
    /// (`the j e w s` → `the jews`), when there is such a run.
    pub fn collapsed(&self) -> Option<String> {
        let single = |w: &String| w.chars().count() == 1;
        let mut out: Vec<String> = Vec::with_capacity(self.words.len());
        let mut changed = false;
        let mut i = 0;
        while i < self.words.len() {
            let run = self.words[i..].iter().take_while(|w| single(w)).count();
            if run >= 3 {
                out.push(self.words[i..i + run].concat());
                changed = true;
                i += run;
            } else {
                out.push(self.words[i].clone());
                i += 1;
            }
        }
        changed.then(|| out.join(" "))
    }

    /// Whether `term` occurs.
    pub fn contains(&self, term: &Term) -> bool {
        self.find(term).is_some()
    }

    /// The first occurrence of `term`, as read (`decapitated` for `decapitat*`).
    pub fn find(&self, term: &Term) -> Option<String> {
        match &term.shape {
            Shape::Unspaced { text, kana, open_start, open_end } => {
                let mut found = self.compact.match_indices(text.as_str()).filter(|&(at, _)| {
                    let before = self.compact[..at].chars().next_back();
                    let after = self.compact[at + text.len()..].chars().next();
                    !kana
                        || ((*open_start || !before.is_some_and(is_katakana))
                            && (*open_end || !after.is_some_and(is_katakana)))
                });
                found.next().map(|_| text.clone())
            }
            Shape::Words(pieces) => {
                (0..self.words.len()).find_map(|i| self.match_at(pieces, i).map(|end| self.words[i..end].join(" ")))
            }
        }
    }

    /// The text with every occurrence of the `allow` phrases replaced by a barrier.
    pub fn without(&self, allow: &[Term]) -> Text {
        if allow.is_empty() {
            return self.clone();
        }
        let mut words = self.words.clone();
        for term in allow {
            match &term.shape {
                Shape::Unspaced { text: s, .. } => {
                    for w in &mut words {
                        if w.contains(s.as_str()) {
                            *w = w.replace(s.as_str(), BARRIER);
                        }
                    }
                }
                Shape::Words(pieces) => {
                    let mut i = 0;
                    while i < self.words.len() {
                        match self.match_at(pieces, i) {
                            Some(end) => {
                                words[i..end].iter_mut().for_each(|w| *w = BARRIER.to_string());
                                i = end;
                            }
                            None => i += 1,
                        }
                    }
                }
            }
        }
        Text::new(words)
    }

    /// Where the match of `pieces` starting at word `i` ends, if there is one.
    fn match_at(&self, pieces: &[Piece], i: usize) -> Option<usize> {
        let Some((piece, rest)) = pieces.split_first() else { return Some(i) };
        let word = self.words.get(i)?;
        if piece.fits(word, &self.squeezed[i]) {
            if let Some(end) = self.match_at(rest, i + 1) {
                return Some(end);
            }
        }
        // Spelled out: a run of one-letter words that together make the word. Bounded, so a
        // prompt of a thousand single letters costs no more than a few reads.
        if !piece.open_start && !piece.text.starts_with(word.as_str()) {
            return None;
        }
        let mut spelled = String::new();
        let longest = (piece.text.chars().count() * 2 + 8).min(64);
        for (j, w) in self.words[i..].iter().enumerate().take(longest) {
            if w.chars().count() != 1 {
                break;
            }
            spelled.push_str(w);
            if j >= 1 && piece.fits(&spelled, &squeeze(&spelled)) {
                if let Some(end) = self.match_at(rest, i + j + 1) {
                    return Some(end);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::text::{words, Reading};
    use super::*;

    fn text(s: &str) -> Text {
        Text::new(words(s, Reading::Plain))
    }

    fn term(s: &str) -> Term {
        Term::new(s, true).unwrap()
    }

    #[test]
    fn words_match_whole_with_wildcards_and_disguises() {
        let cases = [
            ("nude", "a nude figure", true),
            ("nude", "nudes", false),
            ("nude*", "nudes", true),
            ("behead*", "he beheads them", true),
            ("*cide", "pesticide", true),
            ("snuff film", "snuff  film", true),
            ("snuff film", "film snuff", false),
            ("nude", "a n.u.d.e woman", true),
            ("nude", "a n u d e woman", true),
            ("kkk", "a K.K.K. rally", true),
            ("kkk", "a K K K rally", true),
            ("nude", "a nuuuude woman", true),
            ("kkk", "kk", false),
            ("gore", "gored by a bull", false),
            ("裸体", "海滩上的裸体女人", true),
            ("decapitat*", "d-e-c-a-p-i-t-a-t-e-d", true),
            ("エロ", "エロ動画", true),
            ("エロ", "エロール・フリン", false),
            ("エロ", "ヘエロ", false),
            ("ポルノ*", "ポルノビデオ", true),
        ];
        for (t, s, hit) in cases {
            assert_eq!(text(s).contains(&term(t)), hit, "{t:?} in {s:?}");
        }
        assert!(Term::new("*", true).is_none() && Term::new(" .. ", false).is_none());
    }

    #[test]
    fn spelled_out_runs_collapse_for_patterns() {
        assert_eq!(text("the j e w s are rats").collapsed().as_deref(), Some("the jews are rats"));
        assert_eq!(text("a b and c").collapsed(), None);
    }

    #[test]
    fn long_runs_of_single_letters_stay_cheap() {
        let letters = "a ".repeat(20_000);
        let started = std::time::Instant::now();
        assert!(!text(&letters).contains(&term("nude*")));
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    }

    #[test]
    fn allow_phrases_hide_only_what_they_cover() {
        let allow = [term("nude lipstick"), term("naked eye"), term("裸眼")];
        let nude = term("nude");
        assert!(!text("a nude lipstick swatch").without(&allow).contains(&nude));
        assert!(text("nude lipstick on a nude woman").without(&allow).contains(&nude));
        assert!(!text("seen with the naked eye").without(&allow).contains(&term("naked")));
        assert!(!text("用裸眼看").without(&allow).contains(&term("裸")));
        assert!(text("用裸眼看裸体").without(&allow).contains(&term("裸体")));
    }
}
