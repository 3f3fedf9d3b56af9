//! Route templates for labels and logs: a request path resolved to the
//! template it matches (`/v1/shops/{shop}/menu`), never the raw path; and how
//! the route table says each operation is admitted.

use super::admission::Class;
use axum::http::Method;

/// The distinct templates of the route table, and how to match a path to one.
pub struct RouteTemplates {
    templates: Vec<&'static str>,
    segments: Vec<Vec<Option<&'static str>>>,
    /// Per template: (method, admission class) of each operation on it.
    classes: Vec<Vec<(Method, Class)>>,
}

impl RouteTemplates {
    /// From the operations of the route table: (template, method, class).
    pub fn new(operations: impl IntoIterator<Item = (&'static str, Method, Class)>) -> Self {
        let mut templates: Vec<&'static str> = vec![];
        let mut classes: Vec<Vec<(Method, Class)>> = vec![];
        for (p, method, class) in operations {
            let i = match templates.iter().position(|t| *t == p) {
                Some(i) => i,
                None => {
                    templates.push(p);
                    classes.push(vec![]);
                    templates.len() - 1
                }
            };
            classes[i].push((method, class));
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
            classes,
        }
    }

    /// How `method` on the template at `index` is admitted. HEAD is admitted
    /// as GET; unknown routes and methods cost only their 404 or 405.
    pub fn class(&self, index: usize, method: &Method) -> Class {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.classes
            .get(index)
            .and_then(|ops| ops.iter().find(|(m, _)| m == method))
            .map_or(Class::Cheap, |(_, class)| *class)
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
        let t = RouteTemplates::new(
            [
                "/v1/shops",
                "/v1/shops/{shop}",
                "/v1/shops/{shop}/menu",
                "/v1/shops/{shop}/orders/{id}",
                "/healthz",
            ]
            .map(|p| (p, Method::GET, Class::Cheap)),
        );
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
