module kubently.io/libs/logging

go 1.26.0
