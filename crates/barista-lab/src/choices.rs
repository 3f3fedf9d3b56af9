//! What a real customer orders: not "a coffee" but a size and choices (a
//! large oat flat white with an extra shot), when the item offers them. Each
//! line is valid for the menu it was made from: a size of the item, and in
//! each of its groups a number of available modifiers within the group's
//! `min` and `max`.

use crate::workload::Rng;
use serde_json::{Value, json};

/// One group an item offers: how many to choose, from which modifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub min: u64,
    pub max: u64,
    /// The available modifiers' ids.
    pub modifiers: Vec<String>,
}

/// An item a customer may order, with what can be chosen for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orderable {
    pub id: String,
    /// Its sizes' ids; empty for an item without sizes.
    pub variations: Vec<String>,
    pub groups: Vec<Group>,
}

impl Orderable {
    /// The items of a menu (`GET .../menu`) a run can order again and again:
    /// available, without a stock limit, and with every group satisfiable by
    /// its available modifiers.
    pub fn from_menu(menu: &Value) -> Vec<Orderable> {
        let groups = menu["modifier_groups"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let group = |id: &str| -> Option<Group> {
            let g = groups.iter().find(|g| g["id"] == id)?;
            Some(Group {
                min: g["min"].as_u64()?,
                max: g["max"].as_u64()?,
                modifiers: g["modifiers"]
                    .as_array()?
                    .iter()
                    .filter(|m| m["available"] == true)
                    .filter_map(|m| m["id"].as_str().map(str::to_owned))
                    .collect(),
            })
        };
        let ids = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        menu["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter(|i| i["available"] == true && i["stock"].is_null())
                    .filter_map(|i| {
                        let variations = i["variations"]
                            .as_array()
                            .map(|vs| {
                                vs.iter()
                                    .filter_map(|v| v["id"].as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default();
                        let groups: Option<Vec<Group>> = ids(&i["modifier_groups"])
                            .iter()
                            .map(|g| group(g))
                            .collect();
                        let groups = groups?;
                        let id = i["id"].as_str()?.to_owned();
                        groups
                            .iter()
                            .all(|g| g.modifiers.len() as u64 >= g.min)
                            .then_some(Orderable {
                                id,
                                variations,
                                groups,
                            })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A line for `quantity` of it, with a size and choices drawn from `rng`:
    /// in each group, `min` to `max` different modifiers (as many as it has).
    pub fn line(&self, rng: &mut Rng, quantity: u64) -> Value {
        let mut line = json!({"item_id": self.id, "quantity": quantity});
        if !self.variations.is_empty() {
            let v = &self.variations[rng.below(self.variations.len() as u64) as usize];
            line["variation_id"] = json!(v);
        }
        let mut chosen: Vec<&str> = vec![];
        for g in &self.groups {
            let most = g.max.min(g.modifiers.len() as u64);
            let n = g.min + rng.below(most - g.min.min(most) + 1);
            let mut pool: Vec<&str> = g.modifiers.iter().map(String::as_str).collect();
            for _ in 0..n.min(pool.len() as u64) {
                chosen.push(pool.swap_remove(rng.below(pool.len() as u64) as usize));
            }
        }
        if !chosen.is_empty() {
            line["modifiers"] = json!(chosen);
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_choose_a_size_and_within_every_groups_bounds() {
        let menu = json!({
            "items": [
                {"id": "flat-white", "available": true, "stock": null,
                 "variations": [{"id": "small"}, {"id": "large"}], "modifier_groups": ["milk", "extras"]},
                {"id": "tea", "available": true, "stock": null},
                {"id": "bun", "available": true, "stock": 4},
                {"id": "mocha", "available": true, "stock": null, "modifier_groups": ["gone"]}],
            "modifier_groups": [
                {"id": "milk", "min": 1, "max": 1, "modifiers": [
                    {"id": "whole", "available": true}, {"id": "oat", "available": true},
                    {"id": "soy", "available": false}]},
                {"id": "extras", "min": 0, "max": 3, "modifiers": [
                    {"id": "shot", "available": true}, {"id": "vanilla", "available": true}]}]});
        let items = Orderable::from_menu(&menu);
        let ids: Vec<_> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(
            ids,
            ["flat-white", "tea"],
            "stocked and unsatisfiable items are left out"
        );
        let mut rng = Rng::new(7);
        for _ in 0..200 {
            let line = items[0].line(&mut rng, 1);
            assert!(["small", "large"].contains(&line["variation_id"].as_str().unwrap()));
            let mods: Vec<&str> = line["modifiers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap())
                .collect();
            let milk = mods.iter().filter(|m| ["whole", "oat"].contains(m)).count();
            assert_eq!(milk, 1, "{line}");
            assert!(!mods.contains(&"soy"));
            assert!(mods.len() <= 3);
        }
        assert_eq!(
            items[1].line(&mut rng, 2),
            json!({"item_id": "tea", "quantity": 2})
        );
    }
}
