//! The demo shop an empty database gets, so `barista serve` is useful at once.

use crate::secret::{new_staff_key, sha256};
use barista_domain::{ItemBody, ItemFields, ItemId, NewShop, ShopBody};
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
    for (id, name, category, price_cents, stock) in MENU {
        let fields = ItemFields::parse(ItemBody {
            name: (*name).into(),
            description: String::new(),
            category: (*category).into(),
            price_cents: *price_cents,
            available: true,
            stock: *stock,
        })?;
        let id = ItemId::parse(id).map_err(StoreError::Internal)?;
        store.put_item(&shop, id, fields).await?;
    }
    Ok(staff_key)
}
