//! Route templates for labels and logs: a request path resolved to the
//! template it matches (`/v1/shops/{shop}/menu`), never the raw path.

/// The distinct templates of the route table, and how to match a path to one.
pub struct RouteTemplates {
    templates: Vec<&'static str>,
    segments: Vec<Vec<Option<&'static str>>>,
}

impl RouteTemplates {
    pub fn new(paths: impl IntoIterator<Item = &'static str>) -> Self {
        let mut templates: Vec<&'static str> = vec![];
        for p in paths {
            if !templates.contains(&p) {
                templates.push(p);
            }
        }
        let segments = templates
            .iter()
            .map(|t| {
                t.split('/')
                    .map(|s| if s.starts_with('{') { None } else { Some(s) })
                    .collect()
            })
            .collect();
        Self {
            templates,
            segments,
        }
    }

    /// Every template, then `unmatched` (the label of requests no route matched).
    pub fn labels(&self) -> Vec<&'static str> {
        let mut labels = self.templates.clone();
        labels.push("unmatched");
        labels
    }

    pub fn unmatched(&self) -> usize {
        self.templates.len()
    }

    /// The index of the template `path` matches, or `unmatched()`.
    pub fn find(&self, path: &str) -> usize {
        'templates: for (i, template) in self.segments.iter().enumerate() {
            let mut parts = path.split('/');
            for want in template {
                match (parts.next(), want) {
                    (Some(got), Some(literal)) if got == *literal => {}
                    (Some(got), None) if !got.is_empty() => {}
                    _ => continue 'templates,
                }
            }
            if parts.next().is_none() {
                return i;
            }
        }
        self.unmatched()
    }

    pub fn label(&self, index: usize) -> &'static str {
        self.templates.get(index).copied().unwrap_or("unmatched")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_their_templates() {
        let t = RouteTemplates::new([
            "/v1/shops",
            "/v1/shops/{shop}",
            "/v1/shops/{shop}/menu",
            "/v1/shops/{shop}/orders/{id}",
            "/healthz",
        ]);
        assert_eq!(
            t.label(t.find("/v1/shops/demo/menu")),
            "/v1/shops/{shop}/menu"
        );
        assert_eq!(
            t.label(t.find("/v1/shops/x/orders/0190-aa")),
            "/v1/shops/{shop}/orders/{id}"
        );
        assert_eq!(t.label(t.find("/v1/shops")), "/v1/shops");
        assert_eq!(t.label(t.find("/healthz")), "/healthz");
        assert_eq!(t.find("/v1/shops/demo/menu/extra"), t.unmatched());
        assert_eq!(t.find("/v1/shops//menu"), t.unmatched());
        assert_eq!(t.find("/nope"), t.unmatched());
        assert_eq!(t.labels().last(), Some(&"unmatched"));
    }
}
