module kubently.io/libs/policy

go 1.26.0
