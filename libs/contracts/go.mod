module kubently.io/libs/contracts

go 1.26.0
