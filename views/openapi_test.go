package views_test

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/shopstream/streams/views"
)

// loadOpenAPI loads and validates the served document.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(views.OpenAPIDocument())
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background(), openapi3.EnableExamplesValidation()))
	return doc
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	loadOpenAPI(t)
}
