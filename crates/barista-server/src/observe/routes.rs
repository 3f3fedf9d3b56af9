//! The route a request matched, found once per request by the observe layer
//! and carried in its extensions ([`MatchedRoute`]): its template, for
//! labels and logs (`/v1/shops/{shop}/menu`, never the raw path), how the
//! route table says the operation is admitted, and who may call it, which
//! `access` reads instead of looking the route up again. HEAD is answered
//! by the GET route (axum's rule), admitted and authorized as the GET: that
//! rule is written here, once.

use super::admission::Class;
use axum::http::Method;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Anyone,
    Staff,
    Admin,
}

/// The route a request matched: the index of its template, and what the
/// table declares for its method (none for a method the route lacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchedRoute {
    pub index: usize,
    pub operation: Option<(Class, Auth)>,
}

/// The distinct templates of the route table, and how to match a path to one.
pub struct RouteTemplates {
    templates: Vec<&'static str>,
    /// The templates in a radix tree (the router's own matcher): a path is
    /// matched in one walk, not tried against each template.
    tree: matchit::Router<usize>,
    /// Per template: each operation on it, (method, admission class, access).
    operations: Vec<Vec<(Method, Class, Auth)>>,
}

impl RouteTemplates {
    /// From the operations of the route table: (template, method, class, access).
    pub fn new(operations: impl IntoIterator<Item = (&'static str, Method, Class, Auth)>) -> Self {
        let mut templates: Vec<&'static str> = vec![];
        let mut ops: Vec<Vec<(Method, Class, Auth)>> = vec![];
        for (p, method, class, auth) in operations {
            let i = match templates.iter().position(|t| *t == p) {
                Some(i) => i,
                None => {
                    templates.push(p);
                    ops.push(vec![]);
                    templates.len() - 1
                }
            };
            ops[i].push((method, class, auth));
        }
        let mut tree = matchit::Router::new();
        for (i, t) in templates.iter().enumerate() {
            // The route table's templates are distinct and valid: axum took them.
            let _ = tree.insert(*t, i);
        }
        Self {
            templates,
            tree,
            operations: ops,
        }
    }

    /// The route `path` and `method` match, found once.
    pub fn matched(&self, path: &str, method: &Method) -> MatchedRoute {
        let index = self.find(path);
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        let operation = self
            .operations
            .get(index)
            .and_then(|ops| ops.iter().find(|(m, ..)| m == method))
            .map(|(_, class, auth)| (*class, *auth));
        MatchedRoute { index, operation }
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
        self.tree
            .at(path)
            .map_or(self.unmatched(), |found| *found.value)
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
            .map(|p| (p, Method::GET, Class::Cheap, Auth::Anyone)),
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
        // As the router (the same tree) matches it: an empty shop, then a 404.
        assert_eq!(t.label(t.find("/v1/shops//menu")), "/v1/shops/{shop}/menu");
        assert_eq!(t.find("/nope"), t.unmatched());
        assert_eq!(t.labels().last(), Some(&"unmatched"));
    }

    #[test]
    fn head_is_matched_as_get_and_a_missing_method_has_no_operation() {
        let t = RouteTemplates::new([
            ("/m", Method::GET, Class::Cheap, Auth::Anyone),
            ("/m", Method::PUT, Class::Database, Auth::Staff),
        ]);
        assert_eq!(
            t.matched("/m", &Method::HEAD).operation,
            Some((Class::Cheap, Auth::Anyone))
        );
        assert_eq!(
            t.matched("/m", &Method::PUT).operation,
            Some((Class::Database, Auth::Staff))
        );
        assert_eq!(t.matched("/m", &Method::DELETE).operation, None);
        assert_eq!(t.matched("/x", &Method::GET).index, t.unmatched());
    }
}
