//! Linux sandbox cells: a warm pool of network namespaces with redirect rules, and unprivileged, limited handler processes inside them.
