package domainflow

// The databases DomainFlow runs on, as the store names them (and /healthz
// reports them).
const (
	DatabasePostgres = "postgres"
	DatabaseSQLite   = "sqlite"
)
