//! The measured corpus: evasions a hostile user tries, ordinary film and editing prompts, and
//! double meanings, each with its negative prompt. `first.tsv` was written (by `make.py`) before
//! the policy was tuned; `heldout.tsv` after, so its figures show how the tuning generalises.
//! `fresh.tsv` (by `fresh.py`) was written before the second round of tuning and is not tuned on.
//! `cargo test -p kinema-plugin policy::corpus -- --nocapture` prints the rates.

use super::*;

/// One corpus line: what it is, and the two prompts as the user typed them.
struct Case {
    kind: String,
    prompt: String,
    negative: String,
}

fn read(tsv: &str) -> Vec<Case> {
    tsv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut cols = l.split('\t');
            let mut col = || cols.next().unwrap_or_default().to_string();
            Case { kind: col(), prompt: col(), negative: col() }
        })
        .collect()
}

/// Blocked and total counts per kind, printing each surprise (a passed evasion, a blocked prompt).
fn measure(name: &str, cases: &[Case], check: impl Fn(&str, &str) -> Result<(), Blocked>) -> [(usize, usize); 3] {
    let kinds = ["evasion", "ordinary", "double"];
    let mut counts = [(0, 0); 3];
    for c in cases {
        let k = kinds.iter().position(|k| *k == c.kind).unwrap_or_else(|| panic!("unknown kind {:?}", c.kind));
        let result = check(&c.prompt, &c.negative);
        counts[k].1 += 1;
        if result.is_err() {
            counts[k].0 += 1;
        }
        match (k, result) {
            (0, Ok(())) => println!("{name}: evasion passed: {:?} / {:?}", c.prompt, c.negative),
            (1 | 2, Err(b)) => println!("{name}: {} blocked ({b}): {:?} / {:?}", c.kind, c.prompt, c.negative),
            _ => {}
        }
    }
    for (kind, (blocked, total)) in kinds.iter().zip(counts) {
        let rate = 100.0 * blocked as f64 / total.max(1) as f64;
        println!("{name}: {kind}: {blocked}/{total} blocked ({rate:.1} %), {} passed", total - blocked);
    }
    counts
}

fn assert_goals(name: &str, [evasion, ordinary, double]: [(usize, usize); 3]) {
    assert!(evasion.0 * 100 >= evasion.1 * 95, "{name}: {}/{} evasions blocked, below 95 %", evasion.0, evasion.1);
    assert_eq!(ordinary.0, 0, "{name}: ordinary prompts blocked");
    assert!(double.0 * 10 <= double.1, "{name}: {}/{} double meanings blocked, above 10 %", double.0, double.1);
}

#[test]
fn first_corpus_meets_the_goals() {
    let cases = read(include_str!("first.tsv"));
    assert!(cases.len() >= 300);
    let p = Policy::builtin().unwrap();
    let counts = measure("first", &cases, |prompt, negative| p.check_pair(prompt, negative, None));
    assert_goals("first", counts);
}

/// The held-out batch, written after tuning and not tuned on: its figures are the honest ones.
/// They are printed; evasions are only held to a floor, so that a miss here is reported rather
/// than tuned away, while ordinary prompts and double meanings are held to the goals.
#[test]
fn heldout_corpus() {
    let cases = read(include_str!("heldout.tsv"));
    let p = Policy::builtin().unwrap();
    let [evasion, ordinary, double] =
        measure("heldout", &cases, |prompt, negative| p.check_pair(prompt, negative, None));
    assert!(evasion.0 * 100 >= evasion.1 * 80, "heldout: only {}/{} evasions blocked", evasion.0, evasion.1);
    assert_eq!(ordinary.0, 0, "heldout: {}/{} ordinary prompts blocked", ordinary.0, ordinary.1);
    assert!(double.0 * 10 <= double.1, "heldout: {}/{} double meanings blocked", double.0, double.1);
}

/// The third batch, written before the second round of tuning (which covered heldout's misses by
/// class) and never edited after: its first figures, 53/144 evasions (36.8 %), 3/40 ordinary and
/// 6/22 double meanings blocked, were the honest held-out ones. Ordinary prompts and double
/// meanings are held to the goals; evasions only to the floor heldout has.
#[test]
fn fresh_corpus() {
    let cases = read(include_str!("fresh.tsv"));
    assert!(cases.len() >= 160);
    let p = Policy::builtin().unwrap();
    let [evasion, ordinary, double] = measure("fresh", &cases, |prompt, negative| p.check_pair(prompt, negative, None));
    assert!(evasion.1 >= 100 && ordinary.1 >= 40 && double.1 >= 20);
    assert!(evasion.0 * 100 >= evasion.1 * 80, "fresh: only {}/{} evasions blocked", evasion.0, evasion.1);
    assert_eq!(ordinary.0, 0, "fresh: ordinary prompts blocked");
    assert!(double.0 * 10 <= double.1, "fresh: {}/{} double meanings blocked", double.0, double.1);
}
