package spec

import (
	"fmt"
	"slices"
	"strings"
)

// AzureZonesAsOf dates the table below: the regions that Microsoft's
// "Azure regions list" (learn.microsoft.com/azure/reliability/regions-list,
// which "Azure regions with availability zone support" now points to;
// ms.date 2025-09-23) marks with availability zone support, by their
// programmatic names, as read on 2026-12-01. plan is offline and trusts
// it; doctor reads the region's zones live (the size's zones from the
// resource SKUs), which is what to believe where the two differ. Regions
// marked "coming soon" are left out until they open.
const AzureZonesAsOf = "2025-09-23"

var azureZonalRegions = []string{
	"australiaeast", "austriaeast", "belgiumcentral", "brazilsouth", "canadacentral", "centralindia",
	"centralus", "chilecentral", "eastasia", "eastus", "eastus2", "francecentral", "germanywestcentral",
	"indonesiacentral", "israelcentral", "italynorth", "japaneast", "japanwest", "koreacentral",
	"malaysiawest", "mexicocentral", "newzealandnorth", "northeurope", "norwayeast", "polandcentral",
	"qatarcentral", "southafricanorth", "southcentralus", "southeastasia", "spaincentral",
	"swedencentral", "switzerlandnorth", "uaenorth", "uksouth", "westeurope", "westus2", "westus3",
}

// azureNearestZonal names, for each region the list shows without zones,
// the zonal regions nearest it: its pair first where the pair has zones,
// then the closest others in the same geography.
var azureNearestZonal = map[string][]string{
	"australiacentral":   {"australiaeast"},
	"australiacentral2":  {"australiaeast"},
	"australiasoutheast": {"australiaeast"},
	"brazilsoutheast":    {"brazilsouth"},
	"canadaeast":         {"canadacentral"},
	"francesouth":        {"francecentral"},
	"germanynorth":       {"germanywestcentral"},
	"koreasouth":         {"koreacentral"},
	"northcentralus":     {"centralus", "eastus2"},
	"norwaywest":         {"norwayeast"},
	"southafricawest":    {"southafricanorth"},
	"southindia":         {"centralindia"},
	"switzerlandwest":    {"switzerlandnorth"},
	"uaecentral":         {"uaenorth"},
	"ukwest":             {"uksouth"},
	"westcentralus":      {"westus2", "westus3"},
	"westindia":          {"centralindia"},
	"westus":             {"westus2", "westus3"},
}

// AzureRegionHasZones reports whether the table lists the region with
// availability zones, and whether it knows the region at all.
func AzureRegionHasZones(region string) (zonal, known bool) {
	if slices.Contains(azureZonalRegions, region) {
		return true, true
	}
	_, known = azureNearestZonal[region]
	return false, known
}

// azureRegionProblem says why the fleet cannot be spread over zones in
// region, or "" when it can. A region the table does not know is refused
// too (a typo, or a region newer than the table), unless the stack pins
// its zones, which says someone looked.
func azureRegionProblem(region string, pinned bool) string {
	zonal, known := AzureRegionHasZones(region)
	switch {
	case zonal:
		return ""
	case known:
		return fmt.Sprintf("has no availability zones (Azure regions list, %s), and the fleet must span two or more: use %s", AzureZonesAsOf, strings.Join(azureNearestZonal[region], " or "))
	case pinned:
		return ""
	}
	return fmt.Sprintf("is not a region with availability zones in stayup's table (Azure regions list, %s): use a zonal one such as westeurope, northeurope or eastus2; "+
		"if it is newer than the table and has zones, `stayup doctor` shows them, and stayup:zoneNames pins them (e.g. [\"1\", \"2\", \"3\"])", AzureZonesAsOf)
}
