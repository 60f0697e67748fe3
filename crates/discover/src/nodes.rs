//! What the nodes of the flow graph are: the identities that call, the services inside, the
//! third-party APIs outside, the AI providers, and the data stores (recognised by the
//! configured store services, by hosted-store domains, by the ports stores listen on and by
//! the shapes of store APIs that speak HTTP).

use std::net::IpAddr;

/// What a node of the flow graph is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeKind {
    /// A caller: a workload, a key or an address that sent requests.
    Identity,
    /// A host inside (a private address, a cluster or single-label name).
    Service,
    /// A host outside that is not an AI provider or a store: a third-party API.
    ThirdParty,
    /// An AI provider or model server.
    AiProvider,
    /// A data store.
    DataStore,
}

impl NodeKind {
    /// `identity`, `service`, `third_party`, `ai_provider` or `data_store`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Identity => "identity",
            NodeKind::Service => "service",
            NodeKind::ThirdParty => "third_party",
            NodeKind::AiProvider => "ai_provider",
            NodeKind::DataStore => "data_store",
        }
    }
}

/// Hosted stores by domain: (suffix or exact host, store kind). A suffix starts with `.`.
const STORE_HOSTS: &[(&str, &str)] = &[
    (".s3.amazonaws.com", "s3"),
    ("s3.amazonaws.com", "s3"),
    (".blob.core.windows.net", "azure-blob"),
    (".dfs.core.windows.net", "azure-datalake"),
    (".table.core.windows.net", "azure-table"),
    (".documents.azure.com", "cosmosdb"),
    (".database.windows.net", "azure-sql"),
    ("storage.googleapis.com", "gcs"),
    ("firestore.googleapis.com", "firestore"),
    ("bigquery.googleapis.com", "bigquery"),
    ("bigtable.googleapis.com", "bigtable"),
    ("spanner.googleapis.com", "spanner"),
    (".firebaseio.com", "firebase"),
    (".snowflakecomputing.com", "snowflake"),
    (".pinecone.io", "pinecone"),
    (".supabase.co", "supabase"),
    (".mongodb.net", "mongodb"),
    (".es.amazonaws.com", "opensearch"),
    (".aoss.amazonaws.com", "opensearch"),
    (".cloud.es.io", "elasticsearch"),
    (".elastic-cloud.com", "elasticsearch"),
    (".upstash.io", "redis"),
    (".redis-cloud.com", "redis"),
    (".redislabs.com", "redis"),
    (".weaviate.network", "weaviate"),
    (".weaviate.cloud", "weaviate"),
    (".qdrant.io", "qdrant"),
    (".algolia.net", "algolia"),
    (".algolianet.com", "algolia"),
    (".psdb.cloud", "mysql"),
    (".neon.tech", "postgresql"),
    (".databricks.com", "databricks"),
    (".clickhouse.cloud", "clickhouse"),
    (".turso.io", "sqlite"),
    (".fauna.com", "fauna"),
    (".r2.cloudflarestorage.com", "s3"),
];

/// Stores by the port they listen on, when it is theirs alone (8080 or 9000 are not).
const STORE_PORTS: &[(u16, &str)] = &[
    (5432, "postgresql"),
    (3306, "mysql"),
    (1433, "mssql"),
    (1521, "oracle"),
    (26257, "cockroachdb"),
    (6379, "redis"),
    (6380, "redis"),
    (11211, "memcached"),
    (27017, "mongodb"),
    (9042, "cassandra"),
    (9200, "elasticsearch"),
    (5984, "couchdb"),
    (8086, "influxdb"),
    (8123, "clickhouse"),
    (8983, "solr"),
    (7474, "neo4j"),
    (6333, "qdrant"),
    (19530, "milvus"),
    (8529, "arangodb"),
    (9092, "kafka"),
    (2379, "etcd"),
];

/// The store kind of a destination, if it is one: a domain of a hosted store, a port only a
/// store listens on, or a request only a store API takes (`/_bulk`, `/_search`, `/_doc/` of
/// Elasticsearch and OpenSearch; `/_all_docs`, `/_find` of CouchDB; Qdrant points; InfluxDB
/// writes; Pinecone vectors).
pub fn store_of(host: &str, port: Option<u16>, path: &str) -> Option<&'static str> {
    store_by_domain(host).or_else(|| store_by_port_or_api(port, path))
}

/// The store kind of a hosted store's domain.
pub fn store_by_domain(host: &str) -> Option<&'static str> {
    if let Some((_, kind)) = STORE_HOSTS.iter().find(|(h, _)| {
        if h.starts_with('.') {
            host.ends_with(h)
        } else {
            host == *h
        }
    }) {
        return Some(kind);
    }
    // S3 by region: s3.REGION.amazonaws.com, BUCKET.s3.REGION.amazonaws.com, DynamoDB
    if host.ends_with(".amazonaws.com") {
        let labels: Vec<&str> = host.split('.').collect();
        if labels.contains(&"s3") || labels.iter().any(|l| l.starts_with("s3-")) {
            return Some("s3");
        }
        if labels.first() == Some(&"dynamodb") {
            return Some("dynamodb");
        }
    }
    None
}

/// The store kind of a port only a store listens on, or of a request only a store API takes.
pub fn store_by_port_or_api(port: Option<u16>, path: &str) -> Option<&'static str> {
    if let Some(p) = port
        && let Some((_, kind)) = STORE_PORTS.iter().find(|(sp, _)| *sp == p)
    {
        return Some(kind);
    }
    let has = |seg: &str| path.split('/').any(|s| s == seg);
    // the store APIs' own segments start with `_`: most paths are ruled out by one search
    if path.contains("/_") {
        let last = path.rsplit('/').next().unwrap_or("");
        if matches!(
            last,
            "_bulk" | "_search" | "_msearch" | "_mget" | "_update_by_query"
        ) || has("_doc")
            || has("_create")
        {
            return Some("elasticsearch");
        }
        if matches!(last, "_all_docs" | "_find" | "_bulk_docs") {
            return Some("couchdb");
        }
    }
    if path.starts_with("/collections/") && has("points") {
        return Some("qdrant");
    }
    if path == "/api/v2/write" {
        return Some("influxdb");
    }
    if matches!(
        path,
        "/vectors/upsert" | "/vectors/delete" | "/vectors/fetch"
    ) {
        return Some("pinecone");
    }
    None
}

/// Whether a host is inside: a loopback, private, link-local, shared (CGNAT) or unique-local
/// address, or a name that does not resolve publicly (single label, `.local`, `.internal`,
/// `.svc`, `.cluster.local`, `.lan`, `.corp`, `.home.arpa`, `localhost`).
pub fn is_internal(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                v4.is_loopback()
                    || v4.is_private()
                    || v4.is_link_local()
                    || v4.is_unspecified()
                    || (o[0] == 100 && (64..128).contains(&o[1]))
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                v6.is_loopback()
                    || v6.is_unspecified()
                    || (s[0] & 0xfe00) == 0xfc00
                    || (s[0] & 0xffc0) == 0xfe80
                    || v6
                        .to_ipv4_mapped()
                        .is_some_and(|v4| is_internal(&v4.to_string()))
            }
        };
    }
    !host.contains('.')
        || [
            ".local",
            ".internal",
            ".svc",
            ".cluster.local",
            ".lan",
            ".corp",
            ".home.arpa",
            ".localhost",
            ".intranet",
        ]
        .iter()
        .any(|s| host.ends_with(s))
}

/// The kind of a destination host that is neither a store nor an AI provider.
pub fn host_kind(host: &str) -> NodeKind {
    if is_internal(host) {
        NodeKind::Service
    } else {
        NodeKind::ThirdParty
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_are_known_by_domain_port_and_api_shape() {
        assert_eq!(
            store_of("my-bucket.s3.eu-west-1.amazonaws.com", None, "/x"),
            Some("s3")
        );
        assert_eq!(
            store_of("dynamodb.us-east-1.amazonaws.com", None, "/"),
            Some("dynamodb")
        );
        assert_eq!(
            store_of("acct.blob.core.windows.net", None, "/c/b"),
            Some("azure-blob")
        );
        assert_eq!(store_of("10.0.0.9", Some(9200), "/"), Some("elasticsearch"));
        assert_eq!(
            store_of("search", None, "/orders/_doc/1"),
            Some("elasticsearch")
        );
        assert_eq!(store_of("db", Some(5432), "/"), Some("postgresql"));
        assert_eq!(
            store_of("vec", None, "/collections/docs/points"),
            Some("qdrant")
        );
        assert_eq!(store_of("api.stripe.com", Some(443), "/v1/charges"), None);
        assert_eq!(store_of("svc", Some(8080), "/search"), None);
        assert_eq!(store_of("ec2.us-east-1.amazonaws.com", None, "/"), None);
    }

    #[test]
    fn inside_and_outside_are_told_apart() {
        for h in [
            "10.1.2.3",
            "192.168.0.1",
            "172.20.0.5",
            "127.0.0.1",
            "100.64.1.1",
            "::1",
            "fd00::1",
            "orders",
            "orders.shop.svc.cluster.local",
            "orders.shop.svc",
            "db.internal",
            "printer.local",
        ] {
            assert!(is_internal(h), "{h}");
        }
        for h in [
            "api.stripe.com",
            "8.8.8.8",
            "2001:4860::8888",
            "example.org",
        ] {
            assert!(!is_internal(h), "{h}");
        }
    }
}
