module kubently.io/libs/testbed

go 1.26
