//! Orders first: which lane of the door (`barista_http::lanes`) a request
//! takes, from the route table.
//!
//! The route's admission class decides: `Cheap` routes (the shop, the menu,
//! pages, documents) and requests no route matches take the cheap lane, which
//! closes while the replica is out of CPU; everything that goes to the
//! database (orders, claims, status moves, order reads, menu writes, event
//! streams) and the health checks take the first lane and are never held back
//! there. So when a flood of menu reads saturates the replica, the orders keep
//! their rate and latency, the menus get the CPU left over, and the flood
//! waits in its clients' sockets, not in the executor. Past the door, the
//! database lane keeps its adaptive limit (`admission.rs`): what it refuses
//! then is work the database cannot take, not work the CPU could not reach.
//!
//! The route found here is left in the request for the observe layer, so a
//! request's route is still looked up once.

use super::admission::Class;
use super::routes::RouteTemplates;
use crate::error::ApiError;
use crate::problem::Code;
use axum::http::{Extensions, Method, Response, Uri};
use barista_http::{Door, Lane};
use bytes::Bytes;
use http_body_util::Full;
use std::sync::Arc;

pub struct RouteDoor {
    routes: Arc<RouteTemplates>,
}

impl RouteDoor {
    pub fn new(routes: Arc<RouteTemplates>) -> RouteDoor {
        RouteDoor { routes }
    }
}

impl Door for RouteDoor {
    fn lane(&self, method: &Method, uri: &Uri, extensions: &mut Extensions) -> Lane {
        let matched = self.routes.matched(uri.path(), method);
        extensions.insert(matched);
        match matched.operation {
            Some((Class::Database | Class::Exempt, _)) => Lane::First,
            Some((Class::Cheap, _)) | None => Lane::Cheap,
        }
    }

    fn busy(&self) -> Response<Full<Bytes>> {
        let mut response = ApiError::unavailable(
            Code::Overloaded,
            "the replica is busy with orders; retry shortly",
        )
        .response::<String>()
        .map(|body| Full::new(Bytes::from(body)));
        response
            .headers_mut()
            .insert(super::layer::REQUEST_ID, super::layer::new_request_id());
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::routes::{Auth, MatchedRoute};

    #[test]
    fn reads_of_the_menu_wait_and_orders_do_not() {
        let routes = Arc::new(RouteTemplates::new([
            (
                "/v1/shops/{shop}/menu",
                Method::GET,
                Class::Cheap,
                Auth::Anyone,
            ),
            (
                "/v1/shops/{shop}/orders",
                Method::POST,
                Class::Database,
                Auth::Anyone,
            ),
            ("/healthz", Method::GET, Class::Exempt, Auth::Anyone),
        ]));
        let door = RouteDoor::new(routes);
        let lane = |method: Method, path: &str| {
            let mut ext = Extensions::new();
            let lane = door.lane(&method, &path.parse().unwrap(), &mut ext);
            assert!(ext.get::<MatchedRoute>().is_some(), "the route is carried");
            lane
        };
        assert_eq!(lane(Method::GET, "/v1/shops/demo/menu"), Lane::Cheap);
        assert_eq!(lane(Method::HEAD, "/v1/shops/demo/menu"), Lane::Cheap);
        assert_eq!(lane(Method::POST, "/v1/shops/demo/orders"), Lane::First);
        assert_eq!(lane(Method::GET, "/healthz"), Lane::First);
        assert_eq!(lane(Method::GET, "/nowhere"), Lane::Cheap);
        let busy = door.busy();
        assert_eq!(busy.status(), 503);
        assert!(busy.headers().contains_key("retry-after"));
    }
}
