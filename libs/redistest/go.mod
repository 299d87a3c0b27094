module kubently.io/libs/redistest

go 1.26.0
