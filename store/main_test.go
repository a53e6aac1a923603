package store_test

import (
	"os"
	"testing"

	"github.com/domainflow/domainflow/store/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	storetest.DropTemplates()
	os.Exit(code)
}
