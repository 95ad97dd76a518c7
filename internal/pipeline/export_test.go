package pipeline

// SeedPipelines are the fuzz seeds, for the fuzz targets of package pipeline_test.
var SeedPipelines = seedPipelines

// FuzzTemplate is fuzzTemplate, for package pipeline_test.
const FuzzTemplate = fuzzTemplate
