-- What Rampart's controllers saw of their clusters: the workload inventory and the posture
-- findings, one snapshot per cluster, replaced whole by that cluster's controller.
CREATE TABLE IF NOT EXISTS k8s_workloads (
    cluster TEXT NOT NULL,
    namespace TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (cluster, namespace, kind, name)
);
CREATE TABLE IF NOT EXISTS k8s_findings (
    cluster TEXT NOT NULL,
    seq INTEGER NOT NULL,
    document TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (cluster, seq)
);
