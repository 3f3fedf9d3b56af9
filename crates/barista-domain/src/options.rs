//! Sizes and choices: an item's variations (Small / Regular / Large, each with
//! its own price), the shop's modifier groups (Milk: exactly one of whole, oat,
//! soy; Extras: up to three), and how an order line that picks them is checked
//! and priced. A modifier belongs to one group and its id is unique in the
//! shop, so marking it unavailable (the "86") takes it off every item at once.

use crate::ids::ItemId;
use crate::limits::{MODIFIERS_MAX, NAME_MAX, PRICE_MAX, SELECTIONS_MAX, VARIATIONS_MAX};
use crate::validation::{FieldError, Invalid, check_text};
use serde::{Deserialize, Serialize};

/// One size of an item, with its own price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variation {
    pub id: ItemId,
    pub name: String,
    pub price_cents: i64,
}

/// One choice of a group, with what it adds to the price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Modifier {
    pub id: ItemId,
    pub name: String,
    pub price_delta_cents: i64,
    pub available: bool,
}

/// A shop's group of choices; an item offers it by naming its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModifierGroup {
    pub id: ItemId,
    pub name: String,
    /// Fewest choices a line must make from the group.
    pub min: i64,
    /// Most choices (a modifier chosen twice counts twice).
    pub max: i64,
    pub modifiers: Vec<Modifier>,
}

/// A variation as sent in an item's body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VariationBody {
    pub id: String,
    pub name: String,
    #[serde(deserialize_with = "crate::whole::number")]
    pub price_cents: i64,
}

/// A modifier as sent in a group's body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ModifierBody {
    pub id: String,
    pub name: String,
    #[serde(default, deserialize_with = "crate::whole::number")]
    pub price_delta_cents: i64,
    #[serde(default = "yes")]
    pub available: bool,
}

fn yes() -> bool {
    true
}

/// The body of `PUT .../menu/modifier-groups/{group}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ModifierGroupBody {
    pub name: String,
    #[serde(default, deserialize_with = "crate::whole::number")]
    pub min: i64,
    #[serde(deserialize_with = "crate::whole::number")]
    pub max: i64,
    pub modifiers: Vec<ModifierBody>,
}

fn check_id(errors: &mut Vec<FieldError>, field: String, id: &str) -> Option<ItemId> {
    ItemId::parse(id)
        .map_err(|m| errors.push(FieldError::new(field, m)))
        .ok()
}

fn check_amount(errors: &mut Vec<FieldError>, field: String, cents: i64) {
    if !(0..=PRICE_MAX).contains(&cents) {
        errors.push(FieldError::new(field, format!("must be 0 to {PRICE_MAX}")));
    }
}

/// An item's variations, checked: ids unique, names and prices within limits.
pub(crate) fn parse_variations(
    errors: &mut Vec<FieldError>,
    bodies: Vec<VariationBody>,
) -> Vec<Variation> {
    if bodies.len() > VARIATIONS_MAX {
        errors.push(FieldError::new(
            "variations",
            format!("may hold at most {VARIATIONS_MAX} sizes"),
        ));
    }
    let mut out: Vec<Variation> = Vec::with_capacity(bodies.len());
    for (i, v) in bodies.into_iter().enumerate() {
        check_text(
            errors,
            &format!("variations[{i}].name"),
            &v.name,
            1,
            NAME_MAX,
        );
        check_amount(
            errors,
            format!("variations[{i}].price_cents"),
            v.price_cents,
        );
        let Some(id) = check_id(errors, format!("variations[{i}].id"), &v.id) else {
            continue;
        };
        if out.iter().any(|o| o.id == id) {
            errors.push(FieldError::new(
                format!("variations[{i}].id"),
                "appears more than once",
            ));
            continue;
        }
        out.push(Variation {
            id,
            name: v.name,
            price_cents: v.price_cents,
        });
    }
    out
}

/// The groups an item offers, checked for form (that they exist is the store's to check).
pub(crate) fn parse_group_ids(errors: &mut Vec<FieldError>, ids: Vec<String>) -> Vec<ItemId> {
    if ids.len() > VARIATIONS_MAX {
        errors.push(FieldError::new(
            "modifier_groups",
            format!("may name at most {VARIATIONS_MAX} groups"),
        ));
    }
    let mut out: Vec<ItemId> = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let field = format!("modifier_groups[{i}]");
        match ItemId::parse(id) {
            Ok(id) if out.contains(&id) => {
                errors.push(FieldError::new(field, "appears more than once"))
            }
            Ok(id) => out.push(id),
            Err(m) => errors.push(FieldError::new(field, m)),
        }
    }
    out
}

impl ModifierGroup {
    /// Checks every limit of docs/api.md, reporting all failures at once.
    pub fn parse(id: ItemId, body: ModifierGroupBody) -> Result<Self, Invalid> {
        let mut errors = vec![];
        check_text(&mut errors, "name", &body.name, 1, NAME_MAX);
        if !(1..=SELECTIONS_MAX).contains(&body.max) {
            errors.push(FieldError::new(
                "max",
                format!("must be 1 to {SELECTIONS_MAX}"),
            ));
        }
        if !(0..=body.max.max(0)).contains(&body.min) {
            errors.push(FieldError::new("min", "must be 0 to max"));
        }
        if body.modifiers.is_empty() || body.modifiers.len() > MODIFIERS_MAX {
            errors.push(FieldError::new(
                "modifiers",
                format!("must hold 1 to {MODIFIERS_MAX} modifiers"),
            ));
        }
        let mut modifiers: Vec<Modifier> = Vec::with_capacity(body.modifiers.len());
        for (i, m) in body.modifiers.into_iter().enumerate() {
            check_text(
                &mut errors,
                &format!("modifiers[{i}].name"),
                &m.name,
                1,
                NAME_MAX,
            );
            check_amount(
                &mut errors,
                format!("modifiers[{i}].price_delta_cents"),
                m.price_delta_cents,
            );
            let Some(mid) = check_id(&mut errors, format!("modifiers[{i}].id"), &m.id) else {
                continue;
            };
            if modifiers.iter().any(|o| o.id == mid) {
                errors.push(FieldError::new(
                    format!("modifiers[{i}].id"),
                    "appears more than once",
                ));
                continue;
            }
            modifiers.push(Modifier {
                id: mid,
                name: m.name,
                price_delta_cents: m.price_delta_cents,
                available: m.available,
            });
        }
        if errors.is_empty() {
            Ok(Self {
                id,
                name: body.name,
                min: body.min,
                max: body.max,
                modifiers,
            })
        } else {
            Err(Invalid(errors))
        }
    }

    /// Modifier ids this group shares with the shop's other groups: a modifier
    /// id names one modifier in the shop, so the 86 of one is unambiguous.
    pub fn clashes(&self, others: &[ModifierGroup]) -> Result<(), Invalid> {
        let errors: Vec<FieldError> = self
            .modifiers
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                others
                    .iter()
                    .filter(|g| g.id != self.id)
                    .find(|g| g.modifiers.iter().any(|o| o.id == m.id))
                    .map(|g| {
                        FieldError::new(
                            format!("modifiers[{i}].id"),
                            format!("is already a modifier of group `{}`", g.id),
                        )
                    })
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Invalid(errors))
        }
    }

    /// Marks modifier `id` available or not; whether the group has it.
    pub fn set_available(&mut self, id: &ItemId, available: bool) -> bool {
        match self.modifiers.iter_mut().find(|m| &m.id == id) {
            Some(m) => {
                m.available = available;
                true
            }
            None => false,
        }
    }
}

/// The body of `PATCH .../menu/modifiers/{modifier}`: the 86 and its undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModifierPatch {
    pub available: bool,
}

/// The size a line chose, as recorded on the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChosenVariation {
    pub id: String,
    pub name: String,
    pub price_cents: i64,
}

/// A choice a line made, as recorded on the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChosenModifier {
    pub group: String,
    pub id: String,
    pub name: String,
    pub price_delta_cents: i64,
}

/// What one line chose, checked against its item and the shop's groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Choices {
    pub variation: Option<ChosenVariation>,
    pub modifiers: Vec<ChosenModifier>,
    /// Variation price (or the item's) plus every modifier's delta.
    pub unit_price_cents: i64,
}

/// Problems with one line's choices: those the menu could lift by making
/// something available again (409), and those no menu state would accept (422).
#[derive(Debug, Default)]
pub(crate) struct ChoiceProblems {
    pub unavailable: Vec<FieldError>,
    pub invalid: Vec<FieldError>,
}

/// Checks line `i`'s choices (`variation`, `modifiers`) for an item priced
/// `base_price` with `variations` offering `offered` groups (those of the
/// shop's `groups` it names), and prices one unit.
pub(crate) fn choose(
    i: usize,
    item: &crate::menu::MenuItem,
    variation: Option<&ItemId>,
    modifiers: &[ItemId],
    groups: &[ModifierGroup],
    problems: &mut ChoiceProblems,
) -> Choices {
    let mut choices = Choices {
        unit_price_cents: item.price_cents,
        ..Choices::default()
    };
    match (variation, item.variations.first()) {
        (None, None) => {}
        (Some(_), None) => problems.invalid.push(FieldError::new(
            format!("lines[{i}].variation_id"),
            format!("`{}` has no sizes", item.id),
        )),
        (wanted, Some(first)) => {
            let found = match wanted {
                None => Some(first),
                Some(id) => item.variations.iter().find(|v| &v.id == id),
            };
            match found {
                Some(v) => {
                    choices.unit_price_cents = v.price_cents;
                    choices.variation = Some(ChosenVariation {
                        id: v.id.to_string(),
                        name: v.name.clone(),
                        price_cents: v.price_cents,
                    });
                }
                None => problems.invalid.push(FieldError::new(
                    format!("lines[{i}].variation_id"),
                    format!(
                        "is not a size of `{}` (its sizes: {})",
                        item.id,
                        names(item.variations.iter().map(|v| &v.id))
                    ),
                )),
            }
        }
    }
    let offered: Vec<&ModifierGroup> = item
        .modifier_groups
        .iter()
        .filter_map(|id| groups.iter().find(|g| &g.id == id))
        .collect();
    let mut counts = vec![0_i64; offered.len()];
    for (j, id) in modifiers.iter().enumerate() {
        let field = || format!("lines[{i}].modifiers[{j}]");
        let hit = offered.iter().enumerate().find_map(|(g, group)| {
            group
                .modifiers
                .iter()
                .find(|m| &m.id == id)
                .map(|m| (g, *group, m))
        });
        match hit {
            None => problems.invalid.push(FieldError::new(
                field(),
                format!("`{id}` is not offered with `{}`", item.id),
            )),
            Some((g, group, m)) => {
                counts[g] += 1;
                if !m.available {
                    problems.unavailable.push(FieldError::new(
                        field(),
                        format!("`{id}` ({}) is not available", group.name),
                    ));
                }
                choices.unit_price_cents += m.price_delta_cents;
                choices.modifiers.push(ChosenModifier {
                    group: group.id.to_string(),
                    id: m.id.to_string(),
                    name: m.name.clone(),
                    price_delta_cents: m.price_delta_cents,
                });
            }
        }
    }
    for (group, &n) in offered.iter().zip(&counts) {
        if n < group.min || n > group.max {
            let wants = if group.min == group.max {
                format!("exactly {}", group.min)
            } else {
                format!("{} to {}", group.min, group.max)
            };
            problems.invalid.push(FieldError::new(
                format!("lines[{i}].modifiers"),
                format!(
                    "group `{}` ({}) takes {wants} of {} (got {n})",
                    group.id,
                    group.name,
                    names(group.modifiers.iter().map(|m| &m.id))
                ),
            ));
        }
    }
    choices
}

fn names<'a>(ids: impl Iterator<Item = &'a ItemId>) -> String {
    ids.map(|id| id.as_str()).collect::<Vec<_>>().join(", ")
}

/// What the limit on choices per line is, for the order's own checks.
pub(crate) const CHOICES_PER_LINE_MAX: usize = SELECTIONS_MAX as usize;

#[cfg(test)]
mod tests {
    use crate::{MenuItem, NewOrder, PriceRefused};
    use proptest::prelude::*;

    use super::*;

    fn id(s: &str) -> ItemId {
        ItemId::parse(s).unwrap()
    }

    fn group(gid: &str, min: i64, max: i64, mods: &[(&str, i64, bool)]) -> ModifierGroup {
        ModifierGroup {
            id: id(gid),
            name: gid.to_uppercase(),
            min,
            max,
            modifiers: mods
                .iter()
                .map(|&(m, delta, available)| Modifier {
                    id: id(m),
                    name: m.into(),
                    price_delta_cents: delta,
                    available,
                })
                .collect(),
        }
    }

    fn flat_white() -> MenuItem {
        MenuItem {
            id: id("flat-white"),
            name: "Flat white".into(),
            description: String::new(),
            category: "coffee".into(),
            price_cents: 320,
            available: true,
            stock: Some(10),
            variations: vec![
                Variation {
                    id: id("small"),
                    name: "Small".into(),
                    price_cents: 320,
                },
                Variation {
                    id: id("large"),
                    name: "Large".into(),
                    price_cents: 420,
                },
            ],
            modifier_groups: vec![id("milk"), id("extras")],
        }
    }

    fn groups() -> Vec<ModifierGroup> {
        vec![
            group(
                "milk",
                1,
                1,
                &[("whole", 0, true), ("oat", 50, true), ("soy", 40, false)],
            ),
            group(
                "extras",
                0,
                3,
                &[("extra-shot", 60, true), ("vanilla", 45, true)],
            ),
        ]
    }

    fn order(lines: &str) -> NewOrder {
        NewOrder::parse(
            serde_json::from_str(&format!(r#"{{"customer_name":"Ana","lines":{lines}}}"#)).unwrap(),
        )
        .unwrap()
    }

    fn refused(lines: &str) -> PriceRefused {
        order(lines)
            .price(vec![Some(flat_white()); 3], &groups())
            .unwrap_err()
    }

    #[test]
    fn a_large_oat_flat_white_with_an_extra_shot_is_priced_by_the_server() {
        let new = order(
            r#"[{"item_id":"flat-white","quantity":2,"variation_id":"large","modifiers":["oat","extra-shot"]},
                {"item_id":"flat-white","quantity":1,"modifiers":["whole"]}]"#,
        );
        let priced = new
            .price(vec![Some(flat_white()), Some(flat_white())], &groups())
            .unwrap();
        let shop = crate::Shop {
            id: 1,
            slug: crate::Slug::parse("abc").unwrap(),
            name: "A".into(),
            currency: crate::Currency::parse("EUR").unwrap(),
            created_at: crate::Timestamp(0),
            staff_key_hash: vec![],
            suspended: false,
            version: 0,
        };
        assert_eq!(priced.stock.len(), 1, "one move per item");
        assert_eq!(priced.stock[0].quantity, 3);
        let placed = priced.place(&shop, &new, crate::OrderId::generate(), crate::Timestamp(1));
        let big = &placed.lines[0];
        assert_eq!(big.unit_price_cents, 420 + 50 + 60);
        assert_eq!(big.line_total_cents, 2 * 530);
        assert_eq!(big.variation.as_ref().unwrap().name, "Large");
        let names: Vec<_> = big.modifiers.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["oat", "extra-shot"]);
        // No size named: the first one.
        assert_eq!(placed.lines[1].variation.as_ref().unwrap().id, "small");
        assert_eq!(placed.lines[1].unit_price_cents, 320);
        assert_eq!(placed.total_cents, 1060 + 320);
    }

    #[test]
    fn broken_groups_unknown_sizes_and_foreign_modifiers_name_the_line_and_group() {
        let PriceRefused::Invalid(why) = refused(
            r#"[{"item_id":"flat-white","quantity":1},
                {"item_id":"flat-white","quantity":1,"variation_id":"huge","modifiers":["oat","soy-x"]},
                {"item_id":"flat-white","quantity":1,"modifiers":["oat","extra-shot","extra-shot","vanilla","vanilla"]}]"#,
        ) else {
            panic!("not invalid")
        };
        let text = why.to_string();
        assert!(
            text.contains("lines[0].modifiers: group `milk` (MILK) takes exactly 1"),
            "{text}"
        );
        assert!(
            text.contains("lines[1].variation_id: is not a size"),
            "{text}"
        );
        assert!(
            text.contains("lines[1].modifiers[1]: `soy-x` is not offered"),
            "{text}"
        );
        assert!(
            text.contains("lines[2].modifiers: group `extras` (EXTRAS) takes 0 to 3"),
            "{text}"
        );
    }

    #[test]
    fn an_86ed_modifier_is_unavailable_not_invalid() {
        let PriceRefused::Unavailable(why) =
            refused(r#"[{"item_id":"flat-white","quantity":1,"modifiers":["soy"]}]"#)
        else {
            panic!("not unavailable")
        };
        assert_eq!(why.0[0].field, "lines[0].modifiers[0]");
        assert!(why.0[0].message.contains("(MILK) is not available"));
    }

    #[test]
    fn a_modifier_id_names_one_modifier_in_the_shop() {
        let mut again = group("milk-cold", 0, 1, &[("oat", 0, true)]);
        assert!(again.clashes(&groups()).is_err());
        again.modifiers[0].id = id("oat-cold");
        assert!(again.clashes(&groups()).is_ok());
        let mut milk = groups().remove(0);
        assert!(
            milk.clashes(&groups()).is_ok(),
            "a group never clashes with itself"
        );
        assert!(milk.set_available(&id("oat"), false));
        assert!(!milk.set_available(&id("vanilla"), false));
    }

    proptest! {
        /// Any selection is accepted exactly when every group's count is within
        /// its min and max and every choice is offered and available, and then
        /// its price is the size's plus every delta, times the quantity.
        #[test]
        fn choices_are_accepted_only_within_the_rules_and_priced_exactly(
            min in 0_i64..3,
            extra in 0_i64..3,
            picks in proptest::collection::vec(0_usize..5, 0..6),
            size in proptest::option::of(0_usize..3),
            quantity in 1_i64..=99,
            oat_available in any::<bool>(),
        ) {
            let max = (min + extra).max(1);
            let mods = [("a", 10), ("b", 25), ("c", 0), ("oat", 70)];
            let g = group("g", min, max, &[
                ("a", 10, true), ("b", 25, true), ("c", 0, true), ("oat", 70, oat_available),
            ]);
            let mut item = flat_white();
            item.modifier_groups = vec![id("g")];
            // Index 4 is a modifier the item does not offer.
            let chosen: Vec<&str> = picks.iter().map(|&p| mods.get(p).map_or("nope", |m| m.0)).collect();
            let sizes = ["small", "large", "venti"];
            let line = serde_json::json!({
                "item_id": "flat-white", "quantity": quantity,
                "variation_id": size.map(|s| sizes[s]), "modifiers": chosen,
            });
            let new = order(&serde_json::json!([line]).to_string());
            let result = new.price(vec![Some(item)], std::slice::from_ref(&g));
            let n = chosen.len() as i64;
            let foreign = chosen.contains(&"nope");
            let bad_size = size == Some(2);
            let in_bounds = (min..=max).contains(&n);
            let off = chosen.contains(&"oat") && !oat_available;
            match result {
                Ok(priced) => {
                    prop_assert!(in_bounds && !foreign && !bad_size && !off);
                    let base = if size == Some(1) { 420 } else { 320 };
                    let deltas: i64 = chosen.iter().map(|c| mods.iter().find(|m| m.0 == *c).unwrap().1).sum();
                    let shop = crate::Shop {
                        id: 1, slug: crate::Slug::parse("abc").unwrap(), name: "A".into(),
                        currency: crate::Currency::parse("EUR").unwrap(),
                        created_at: crate::Timestamp(0), staff_key_hash: vec![], suspended: false, version: 0,
                    };
                    let o = priced.place(&shop, &new, crate::OrderId::generate(), crate::Timestamp(1));
                    prop_assert_eq!(o.total_cents, (base + deltas) * quantity);
                }
                Err(PriceRefused::Invalid(_)) => prop_assert!(!in_bounds || foreign || bad_size),
                Err(PriceRefused::Unavailable(_)) => {
                    prop_assert!(off && in_bounds && !foreign && !bad_size)
                }
            }
        }
    }
}
