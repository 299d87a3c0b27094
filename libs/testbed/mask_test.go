package testbed_test

import (
	"slices"
	"testing"

	"kubently.io/libs/testbed"
)

func TestMaskAges(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "get table: the AGE column only",
			in: "NAME    READY   STATUS    RESTARTS      AGE\n" +
				"web-1   1/1     Running   2 (5m ago)    3d4h\n" +
				"db-0    0/1     Pending   0             45s\n",
			want: "NAME | READY | STATUS | RESTARTS | AGE\n" +
				"web-1 | 1/1 | Running | 2 (<age> ago) | <age>\n" +
				"db-0 | 0/1 | Pending | 0 | <age>\n",
		},
		{
			name: "events: ages masked, the count kept",
			in: "LAST SEEN            TYPE      REASON    OBJECT      MESSAGE\n" +
				"5m (x3 over 10m)     Warning   BackOff   pod/web-1   Back-off 10s restarting\n",
			want: "LAST SEEN | TYPE | REASON | OBJECT | MESSAGE\n" +
				"<age> (x3 over <age>) | Warning | BackOff | pod/web-1 | Back-off 10s restarting\n",
		},
		{
			name: "a failed job's duration grows: masked",
			in: "NAME         STATUS   COMPLETIONS   DURATION   AGE\n" +
				"db-migrate   Failed   0/1           9m33s      9m33s\n",
			want: "NAME | STATUS | COMPLETIONS | DURATION | AGE\n" +
				"db-migrate | Failed | 0/1 | <age> | <age>\n",
		},
		{
			name: "quantities and durations outside age columns stay",
			in: "NAME    CPU(cores)   MEMORY(bytes)\n" +
				"web-1   100m         20Mi\n" +
				"\n" +
				"Liveness:  http-get http://:8080/ delay=5s timeout=1s\n",
			want: "NAME | CPU(cores) | MEMORY(bytes)\n" +
				"web-1 | 100m | 20Mi\n" +
				"\n" +
				"Liveness:  http-get http://:8080/ delay=5s timeout=1s\n",
		},
		{
			name: "describe: dashed header and timestamps",
			in: "Start Time:   Thu, 26 Nov 2026 16:39:18 +0000\n" +
				"Events:\n" +
				"  Type    Reason   Age   From   Message\n" +
				"  ----    ------   ----  ----   -------\n" +
				"  Normal  Pulled   2m    kubelet  Pulled in 5s\n",
			want: "Start Time:   <time>\n" +
				"Events:\n" +
				"Type | Reason | Age | From | Message\n" +
				"---- | ------ | ---- | ---- | -------\n" +
				"Normal | Pulled | <age> | kubelet | Pulled in 5s\n",
		},
		{
			name: "text without a table is left alone",
			in:   "No resources found in default namespace.\nrequests: cpu 100m\n",
			want: "No resources found in default namespace.\nrequests: cpu 100m\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testbed.MaskAges(tt.in); got != tt.want {
				t.Errorf("MaskAges:\ngot\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	// What varies is masked; what is compared still differs.
	a := "NAME    CPU(cores)   AGE\nweb-1   100m         5m\n"
	b := "NAME    CPU(cores)   AGE\nweb-1   200m         6m\n"
	if testbed.MaskAges(a) == testbed.MaskAges(b) {
		t.Errorf("MaskAges made CPU 100m and 200m equal:\n%s", testbed.MaskAges(a))
	}
	if got := testbed.MaskedTokens(a); !slices.Equal(got, []string{"5m"}) {
		t.Errorf("MaskedTokens = %q; want [5m]", got)
	}
}
