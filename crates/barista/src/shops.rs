//! `barista shops`: the operator's console, straight on the database (servers
//! may keep running: each replica sees a change within a second, through the
//! store's notices or its freshness check).

use crate::cli::DatabaseArgs;
use anyhow::{Context, bail};
use barista_domain::{NewShop, Shop, ShopBody, Slug};
use barista_server::secret::{new_staff_key, sha256};
use barista_store::{ShopChange, ShopExport, Store};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args)]
pub struct ShopsArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(subcommand)]
    pub action: ShopsAction,
}

#[derive(Subcommand)]
pub enum ShopsAction {
    /// List every shop: slug, name, currency, and whether it is suspended.
    List,
    /// Create a shop; its staff key is printed this once.
    Create {
        slug: String,
        name: String,
        #[arg(long, default_value = "EUR")]
        currency: String,
    },
    /// Give a shop a new name.
    Rename { slug: String, name: String },
    /// Suspend a shop: its API and pages answer 403 `shop_suspended`; nothing is deleted.
    Suspend { slug: String },
    /// Resume a suspended shop.
    Resume { slug: String },
    /// Replace a shop's staff key (its owner lost it): the new key is printed
    /// this once; the old key and every session made with it stop working.
    RotateKey { slug: String },
    /// Write all of a shop's data to one file (default: SLUG.barista.json).
    Export {
        slug: String,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Create a shop from an export, under the slug it was exported with
    /// (into another database, or after it was deleted).
    Import { file: PathBuf },
    /// Delete a shop and everything it owns. Export it first if it may be wanted.
    Delete {
        slug: String,
        /// Delete without asking (the command refuses without it).
        #[arg(long)]
        yes: bool,
    },
}

async fn find(store: &dyn Store, slug: &str) -> anyhow::Result<Shop> {
    let parsed = Slug::parse(slug).map_err(|m| anyhow::anyhow!("`{slug}`: {m}"))?;
    store
        .shop(&parsed)
        .await?
        .with_context(|| format!("no shop `{slug}`"))
}

fn line(shop: &Shop) -> String {
    format!(
        "{}\t{}\t{}\t{}",
        shop.slug,
        shop.currency.as_str(),
        if shop.suspended {
            "suspended"
        } else {
            "active"
        },
        shop.name
    )
}

pub async fn shops(args: ShopsArgs) -> anyhow::Result<()> {
    let store = barista_store::open(&args.db.database, &args.db.options())
        .await
        .with_context(|| format!("cannot open {}", args.db.database))?;
    let store = store.as_ref();
    match args.action {
        ShopsAction::List => {
            let (mut after, mut listed) = (String::new(), 0);
            loop {
                let page = store.shops(&after, 500).await?;
                listed += page.len();
                for shop in &page {
                    println!("{}", line(shop));
                }
                match page.last() {
                    Some(last) if page.len() == 500 => after = last.slug.to_string(),
                    _ => break,
                }
            }
            if listed == 0 {
                eprintln!("no shops in {}", args.db.database);
            }
        }
        ShopsAction::Create {
            slug,
            name,
            currency,
        } => {
            let new = NewShop::parse(ShopBody {
                slug,
                name,
                currency,
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            let key =
                new_staff_key().map_err(|e| anyhow::anyhow!("no randomness for a key: {e}"))?;
            let shop = store.create_shop(new, sha256(key.as_bytes())).await?;
            println!("created {}", line(&shop));
            println!("staff key (shown this once): {key}");
        }
        ShopsAction::Rename { slug, name } => {
            let mut errors = vec![];
            barista_domain::check_text(
                &mut errors,
                "name",
                &name,
                1,
                barista_domain::limits::NAME_MAX,
            );
            if !errors.is_empty() {
                bail!("{}", barista_domain::Invalid(errors));
            }
            let change = ShopChange {
                name: Some(name),
                suspended: None,
            };
            let shop = store
                .change_shop(&find(store, &slug).await?, change)
                .await?;
            println!("renamed {}", line(&shop));
        }
        ShopsAction::Suspend { slug } => standing(store, &slug, true).await?,
        ShopsAction::Resume { slug } => standing(store, &slug, false).await?,
        ShopsAction::RotateKey { slug } => {
            let key =
                new_staff_key().map_err(|e| anyhow::anyhow!("no randomness for a key: {e}"))?;
            let shop = find(store, &slug).await?;
            store
                .replace_staff_key(&shop, sha256(key.as_bytes()))
                .await?;
            println!("new staff key of {slug} (shown this once): {key}");
            println!("the old key and every session made with it no longer work");
        }
        ShopsAction::Export { slug, output } => {
            let shop = find(store, &slug).await?;
            let export = store.export_shop(&shop).await?;
            let path = output.unwrap_or_else(|| format!("{slug}.barista.json").into());
            let file = std::fs::File::create(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            serde_json::to_writer(&mut writer, &export)?;
            std::io::Write::flush(&mut writer)?;
            let orders = export.tables.get("orders").map_or(0, Vec::len);
            println!(
                "exported {slug} to {}: {} rows ({orders} orders)",
                path.display(),
                export.rows()
            );
        }
        ShopsAction::Import { file } => {
            let text =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let export: ShopExport = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not a Barista shop export", file.display()))?;
            let rows = export.rows();
            let shop = store.import_shop(export).await.map_err(|e| match e {
                barista_store::StoreError::SlugTaken => anyhow::anyhow!(
                    "a shop with this slug exists here; delete it first, or import into another database"
                ),
                e => e.into(),
            })?;
            println!("imported {} ({rows} rows)", line(&shop));
        }
        ShopsAction::Delete { slug, yes } => {
            let shop = find(store, &slug).await?;
            if !yes {
                bail!(
                    "this deletes `{slug}` and every order it has; export it first \
                     (`barista shops export {slug}`), then add --yes"
                );
            }
            store.delete_shop(&shop).await?;
            println!("deleted {slug} and everything it owned");
        }
    }
    Ok(())
}

async fn standing(store: &dyn Store, slug: &str, suspended: bool) -> anyhow::Result<()> {
    let change = ShopChange {
        name: None,
        suspended: Some(suspended),
    };
    let shop = store.change_shop(&find(store, slug).await?, change).await?;
    println!("{}", line(&shop));
    Ok(())
}
