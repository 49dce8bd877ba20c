C     An F77-style loader: a cross-section table in a COMMON block, marked through the
C     external name (no module), read on rank 0 and broadcast with MPI_BCAST.
      SUBROUTINE LOADXS(IERR)
      INCLUDE 'mpif.h'
      INTEGER NXS
      PARAMETER (NXS = 524288)
      DOUBLE PRECISION XS(NXS)
      COMMON /XSDATA/ XS
      INTEGER IERR, RANK, I
      INTEGER*8 NBYTES
      NBYTES = 8_8 * NXS
      CALL MPISHM_MARK_READONLY(XS, NBYTES, IERR)
      CALL MPI_COMM_RANK(MPI_COMM_WORLD, RANK, I)
      IF (RANK .EQ. 0) THEN
         DO 10 I = 1, NXS
            XS(I) = 1.0D0 / DBLE(I)
   10    CONTINUE
      END IF
      CALL MPI_BCAST(XS, NXS, MPI_DOUBLE_PRECISION, 0,
     &               MPI_COMM_WORLD, I)
      END
