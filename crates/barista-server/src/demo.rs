//! The demo shop an empty database gets, so `barista serve` is useful at once.

use crate::secret::{new_staff_key, sha256};
use barista_domain::{
    ItemBody, ItemFields, ItemId, ModifierBody, ModifierGroup, ModifierGroupBody, NewShop,
    ShopBody, VariationBody,
};
use barista_store::{Store, StoreError};

pub const DEMO_SLUG: &str = "demo";

/// (id, name, category, price in cents, stock)
const MENU: &[(&str, &str, &str, i64, Option<i64>)] = &[
    ("espresso", "Espresso", "coffee", 250, None),
    ("flat-white", "Flat white", "coffee", 380, None),
    ("cappuccino", "Cappuccino", "coffee", 360, None),
    ("latte", "Caffè latte", "coffee", 390, None),
    ("earl-grey", "Earl Grey", "tea", 300, None),
    ("green-tea", "Sencha green tea", "tea", 320, None),
    ("croissant", "Butter croissant", "pastry", 280, None),
    ("cinnamon-bun", "Cinnamon bun", "pastry", 340, Some(12)),
];

/// The milk coffees come in three sizes, (id, name, price over the small one).
const SIZES: &[(&str, &str, i64)] = &[
    ("small", "Small", 0),
    ("regular", "Regular", 40),
    ("large", "Large", 80),
];
const SIZED: &[&str] = &["flat-white", "cappuccino", "latte"];

/// (group, name, min, max, [(modifier, name, price delta)]), and which items offer it.
type Group = (
    &'static str,
    &'static str,
    i64,
    i64,
    &'static [(&'static str, &'static str, i64)],
);
const GROUPS: &[(Group, &[&str])] = &[
    (
        (
            "milk",
            "Milk",
            0,
            1,
            &[
                ("whole", "Whole milk", 0),
                ("oat", "Oat milk", 50),
                ("soy", "Soy milk", 40),
            ],
        ),
        SIZED,
    ),
    (
        (
            "extras",
            "Extras",
            0,
            3,
            &[
                ("extra-shot", "Extra shot", 60),
                ("vanilla", "Vanilla syrup", 45),
            ],
        ),
        SIZED,
    ),
];

fn modifier_group(
    &((id, name, min, max, modifiers), _): &(Group, &[&str]),
) -> Result<ModifierGroup, StoreError> {
    let body = ModifierGroupBody {
        name: name.into(),
        min,
        max,
        modifiers: modifiers
            .iter()
            .map(|&(id, name, delta)| ModifierBody {
                id: id.into(),
                name: name.into(),
                price_delta_cents: delta,
                available: true,
            })
            .collect(),
    };
    Ok(ModifierGroup::parse(
        ItemId::parse(id).map_err(StoreError::Internal)?,
        body,
    )?)
}

/// Creates the demo shop and its menu; returns its staff key (shown once).
pub async fn seed(store: &dyn Store) -> Result<String, StoreError> {
    let staff_key = new_staff_key()
        .map_err(|e| StoreError::Internal(format!("no randomness for a staff key: {e}")))?;
    let shop = NewShop::parse(ShopBody {
        slug: DEMO_SLUG.into(),
        name: "Demo Coffee".into(),
        currency: "EUR".into(),
    })?;
    let shop = store
        .create_shop(shop, sha256(staff_key.as_bytes()))
        .await?;
    for group in GROUPS {
        store
            .put_modifier_group(&shop, modifier_group(group)?)
            .await?;
    }
    for (id, name, category, price_cents, stock) in MENU {
        let variations = if SIZED.contains(id) {
            SIZES
                .iter()
                .map(|&(v, name, more)| VariationBody {
                    id: v.into(),
                    name: name.into(),
                    price_cents: price_cents + more,
                })
                .collect()
        } else {
            vec![]
        };
        let fields = ItemFields::parse(ItemBody {
            name: (*name).into(),
            description: String::new(),
            category: (*category).into(),
            price_cents: Some(*price_cents),
            available: true,
            stock: *stock,
            variations,
            modifier_groups: GROUPS
                .iter()
                .filter(|(_, items)| items.contains(id))
                .map(|((g, ..), _)| (*g).into())
                .collect(),
        })?;
        let id = ItemId::parse(id).map_err(StoreError::Internal)?;
        store.put_item(&shop, id, fields).await?;
    }
    Ok(staff_key)
}
