//! Object counting: count the items of one category among possessions of several.

use crate::task::answer::small_number_word;
use crate::task::seeded_rng::SeededRng;

/// Categories with (singular, plural) item names; the first field is the category noun.
const CATEGORIES: [(&str, &[(&str, &str)]); 4] = [
    (
        "musical instruments",
        &[
            ("flute", "flutes"),
            ("piano", "pianos"),
            ("violin", "violins"),
            ("trumpet", "trumpets"),
            ("drum", "drums"),
            ("clarinet", "clarinets"),
            ("accordion", "accordions"),
        ],
    ),
    (
        "fruits",
        &[
            ("apple", "apples"),
            ("banana", "bananas"),
            ("peach", "peaches"),
            ("plum", "plums"),
            ("orange", "oranges"),
            ("strawberry", "strawberries"),
            ("grape", "grapes"),
        ],
    ),
    (
        "vegetables",
        &[
            ("carrot", "carrots"),
            ("cabbage", "cabbages"),
            ("onion", "onions"),
            ("potato", "potatoes"),
            ("yam", "yams"),
            ("stalk of celery", "stalks of celery"),
            ("head of broccoli", "heads of broccoli"),
        ],
    ),
    (
        "animals",
        &[
            ("cat", "cats"),
            ("dog", "dogs"),
            ("rabbit", "rabbits"),
            ("goat", "goats"),
            ("snail", "snails"),
            ("mouse", "mice"),
            ("fish", "fish"),
        ],
    ),
];

/// Returns the question and the accepted answers: the count in digits, then in words.
pub(super) fn generate(rng: &mut SeededRng) -> (String, Vec<String>) {
    let category_index = rng.below(CATEGORIES.len());
    let mut possessions: Vec<(String, bool)> = Vec::new();
    let mut total = 0_usize;
    for (index, (_, items)) in CATEGORIES.iter().enumerate() {
        let counted = index == category_index;
        let item_count = if counted { 2 + rng.below(4) } else { rng.below(2) };
        let mut pool: Vec<&(&str, &str)> = items.iter().collect();
        rng.shuffle(&mut pool);
        for (singular, plural) in pool.into_iter().take(item_count) {
            let quantity = if rng.chance(2, 3) { 1 } else { 2 + rng.below(3) };
            let phrase = if quantity == 1 {
                format!("{} {singular}", article(singular))
            } else {
                format!("{} {plural}", small_number_word(quantity).unwrap_or("two"))
            };
            if counted {
                total += quantity;
            }
            possessions.push((phrase, counted));
        }
    }
    rng.shuffle(&mut possessions);

    let phrases: Vec<String> = possessions.into_iter().map(|(phrase, _)| phrase).collect();
    let (category, _) = CATEGORIES.get(category_index).copied().unwrap_or(CATEGORIES[0]);
    let question = format!("I have {}. How many {category} do I have?", join_list(&phrases));
    let words = small_number_word(total).map(str::to_owned);
    (question, std::iter::once(total.to_string()).chain(words).collect())
}

fn article(noun: &str) -> &'static str {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

/// Joins `a, b, and c` with an Oxford comma, `a and b` for two.
fn join_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [only] => only.clone(),
        [first, second] => format!("{first} and {second}"),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::answer::parse_number_word;

    #[test]
    fn count_matches_listed_items() {
        let mut rng = SeededRng::new(2);
        for _ in 0..200 {
            let (question, targets) = generate(&mut rng);
            let (_, category_part) = question.rsplit_once("How many ").expect("question form");
            let category = category_part.trim_end_matches(" do I have?");
            let (_, items) = CATEGORIES.iter().find(|(name, _)| *name == category).expect("known category");
            let listed = question.trim_start_matches("I have ").split(". How many").next().expect("list part");

            let mut expected = 0;
            for phrase in listed.split(", ").flat_map(|part| part.split(" and ")) {
                let phrase = phrase.trim_start_matches("and ").trim();
                let (quantity, noun) = phrase.split_once(' ').expect("quantity and noun");
                let quantity = if quantity == "a" || quantity == "an" {
                    1
                } else {
                    parse_number_word(quantity).expect("number word") as usize
                };
                if items.iter().any(|(singular, plural)| noun == *singular || noun == *plural) {
                    expected += quantity;
                }
            }

            assert_eq!(targets.first(), Some(&expected.to_string()), "{question}");
            assert_eq!(targets.get(1).map(String::as_str), small_number_word(expected), "{question}");
        }
    }

    #[test]
    fn join_list_forms() {
        let items: Vec<String> = ["a", "b", "c"].map(str::to_owned).to_vec();

        assert_eq!(join_list(&items[..1]), "a");
        assert_eq!(join_list(&items[..2]), "a and b");
        assert_eq!(join_list(&items), "a, b, and c");
    }
}
